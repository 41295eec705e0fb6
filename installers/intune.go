package installers

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
)

// OMA-URI roots of the RootCATrustedCertificates configuration service
// provider (device scope).
const (
	IntuneRootURI = "./Device/Vendor/MSFT/RootCATrustedCertificates/Root/"
	IntuneCAURI   = "./Device/Vendor/MSFT/RootCATrustedCertificates/CA/"
)

// OMASetting is one row of an Intune custom configuration profile
// (Windows 10 and later, "Custom" template): the fields an admin fills in
// for each OMA-URI setting. DataType is always "String"; Value is the
// base64 DER certificate.
type OMASetting struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	OMAURI      string `json:"omaUri"`
	DataType    string `json:"dataType"`
	Value       string `json:"value"`
	SHA1        string `json:"sha1"`
	SHA256      string `json:"sha256"`
}

// IntuneSettings returns one OMA-URI setting per CA:
// <root>/{SHA1}/EncodedCertificate under Root/ for a self-signed CA and
// CA/ for an intermediate.
func IntuneSettings(cas []*x509.Certificate) ([]OMASetting, error) {
	if err := checkCAs(cas); err != nil {
		return nil, fmt.Errorf("intune: %w", err)
	}
	out := make([]OMASetting, 0, len(cas))
	for _, c := range cas {
		base, kind := IntuneRootURI, "root"
		if !IsRoot(c) {
			base, kind = IntuneCAURI, "intermediate"
		}
		out = append(out, OMASetting{
			Name:        displayName(c) + " (" + kind + ")",
			Description: "Anchorwatch: " + kind + " CA " + c.Subject.String(),
			OMAURI:      base + SHA1Hex(c) + "/EncodedCertificate",
			DataType:    "String",
			Value:       base64.StdEncoding.EncodeToString(c.Raw),
			SHA1:        SHA1Hex(c),
			SHA256:      sha256Hex(c),
		})
	}
	return out, nil
}

// IntuneJSON is the settings as an indented JSON array.
func IntuneJSON(s []OMASetting) ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// IntuneCSV is the settings as CSV with a header row
// (name,description,omaUri,dataType,value,sha1,sha256).
func IntuneCSV(s []OMASetting) ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	rows := [][]string{{"name", "description", "omaUri", "dataType", "value", "sha1", "sha256"}}
	for _, o := range s {
		rows = append(rows, []string{o.Name, o.Description, o.OMAURI, o.DataType, o.Value, o.SHA1, o.SHA256})
	}
	if err := w.WriteAll(rows); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
