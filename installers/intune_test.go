package installers

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestIntuneRoundTrip(t *testing.T) {
	f := newFixture(t)
	cas := []*x509.Certificate{f.root.Cert, f.inter.Cert}
	s, err := IntuneSettings(cas)
	if err != nil {
		t.Fatal(err)
	}
	js, err := IntuneJSON(s)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := IntuneCSV(s)
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON []map[string]string
	if err := json.Unmarshal(js, &fromJSON); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(cs)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(fromJSON) != 2 || len(rows) != 3 || rows[0][2] != "omaUri" || rows[0][4] != "value" {
		t.Fatalf("json %d rows, csv %d rows (header %v)", len(fromJSON), len(rows), rows[0])
	}
	for i, tc := range []struct {
		cert *x509.Certificate
		dir  string
	}{{f.root.Cert, "Root"}, {f.inter.Cert, "CA"}} {
		sum := sha1.Sum(tc.cert.Raw)
		wantURI := fmt.Sprintf("./Device/Vendor/MSFT/RootCATrustedCertificates/%s/%X/EncodedCertificate", tc.dir, sum)
		for src, uri := range map[string][2]string{"json": {fromJSON[i]["omaUri"], fromJSON[i]["value"]}, "csv": {rows[i+1][2], rows[i+1][4]}} {
			if uri[0] != wantURI {
				t.Errorf("%s row %d: OMA-URI %s, want %s", src, i, uri[0], wantURI)
			}
			der, err := base64.StdEncoding.DecodeString(uri[1])
			if err != nil {
				t.Fatalf("%s row %d: value is not base64: %v", src, i, err)
			}
			c, err := x509.ParseCertificate(der)
			if err != nil || !c.Equal(tc.cert) {
				t.Errorf("%s row %d: value does not round-trip to %s (%v)", src, i, tc.cert.Subject, err)
			}
		}
		if fromJSON[i]["dataType"] != "String" {
			t.Errorf("row %d: dataType %q", i, fromJSON[i]["dataType"])
		}
	}
	if _, err := IntuneSettings([]*x509.Certificate{f.root.Leaf(t, "x.example").Leaf}); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Fatalf("leaf: err = %v", err)
	}
}

// TestIntuneGraph: the Graph bodies are JSON objects of the trusted
// certificate profile types, carrying the DER (base64) and, on Windows,
// the store by role; macOS and iOS get the roots. (Nothing is sent to
// Graph here.)
func TestIntuneGraph(t *testing.T) {
	f := newFixture(t)
	files, err := IntuneGraphProfiles([]*x509.Certificate{f.root.Cert, f.inter.Cert})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		typ, store string
		der        []byte
	}{
		"windows-trusted-certificate-" + SHA1Hex(f.root.Cert)[:16] + ".json":  {"#microsoft.graph.windows81TrustedRootCertificate", "computerCertStoreRoot", f.root.Cert.Raw},
		"windows-trusted-certificate-" + SHA1Hex(f.inter.Cert)[:16] + ".json": {"#microsoft.graph.windows81TrustedRootCertificate", "computerCertStoreIntermediate", f.inter.Cert.Raw},
		"macos-trusted-certificate-" + SHA1Hex(f.root.Cert)[:16] + ".json":    {"#microsoft.graph.macOSTrustedRootCertificate", "", f.root.Cert.Raw},
		"ios-trusted-certificate-" + SHA1Hex(f.root.Cert)[:16] + ".json":      {"#microsoft.graph.iosTrustedRootCertificate", "", f.root.Cert.Raw},
	}
	if len(files) != len(want) {
		t.Errorf("%d profiles, want %d", len(files), len(want))
	}
	for name, w := range want {
		var p map[string]any
		if err := json.Unmarshal(files[name], &p); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		der, _ := base64.StdEncoding.DecodeString(fmt.Sprint(p["trustedRootCertificate"]))
		store, _ := p["destinationStore"].(string)
		if p["@odata.type"] != w.typ || store != w.store || !bytes.Equal(der, w.der) || p["displayName"] == "" {
			t.Errorf("%s: %s", name, files[name])
		}
	}
}
