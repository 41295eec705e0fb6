package installers

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"

	"github.com/anchorwatch/anchorwatch/stores"
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
			SHA256:      stores.SHA256(c),
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

// GraphPath is the Microsoft Graph collection Intune device configuration
// profiles are created in (POST).
const GraphPath = "https://graph.microsoft.com/v1.0/deviceManagement/deviceConfigurations"

// graphProfile is the body of a trusted certificate profile for Graph:
// windows81TrustedRootCertificate (Windows 8.1 and later, Windows 10/11
// included), macOSTrustedRootCertificate, iosTrustedRootCertificate.
type graphProfile struct {
	ODataType        string `json:"@odata.type"`
	DisplayName      string `json:"displayName"`
	Description      string `json:"description"`
	Certificate      string `json:"trustedRootCertificate"`
	CertFileName     string `json:"certFileName"`
	DestinationStore string `json:"destinationStore,omitempty"`
}

// IntuneGraphProfiles returns, by file name, the Graph request bodies of
// Intune "Trusted certificate" profiles for the CAs: for Windows every CA
// (roots to the computer Root store, others to Intermediate), for macOS
// and iOS the roots. POST each to GraphPath.
func IntuneGraphProfiles(cas []*x509.Certificate) (map[string][]byte, error) {
	if err := checkCAs(cas); err != nil {
		return nil, fmt.Errorf("intune: %w", err)
	}
	out := map[string][]byte{}
	add := func(platform, typ, store string, c *x509.Certificate) error {
		p := graphProfile{ODataType: "#microsoft.graph." + typ,
			DisplayName:  displayName(c) + " (" + platform + ")",
			Description:  "Anchorwatch: " + c.Subject.String() + ", SHA-256 " + stores.SHA256(c),
			Certificate:  base64.StdEncoding.EncodeToString(c.Raw),
			CertFileName: SHA1Hex(c) + ".cer", DestinationStore: store}
		b, err := json.MarshalIndent(p, "", "  ")
		if err != nil {
			return err
		}
		out[fmt.Sprintf("%s-trusted-certificate-%s.json", platform, SHA1Hex(c)[:16])] = append(b, '\n')
		return nil
	}
	for _, c := range cas {
		store := "computerCertStoreRoot"
		if !IsRoot(c) {
			store = "computerCertStoreIntermediate"
		}
		if err := add("windows", "windows81TrustedRootCertificate", store, c); err != nil {
			return nil, err
		}
		if !IsRoot(c) {
			continue
		}
		for platform, typ := range map[string]string{"macos": "macOSTrustedRootCertificate", "ios": "iosTrustedRootCertificate"} {
			if err := add(platform, typ, "", c); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// IntuneLOBApp is the Graph body of a Windows line-of-business MSI app
// (windowsMobileMSI) for the agent's MSI, to POST to
// https://graph.microsoft.com/v1.0/deviceAppManagement/mobileApps before
// uploading the file itself. Installed in the device context (the agent is
// a machine-wide service); commandLine carries the public properties.
type IntuneLOBApp struct {
	ODataType              string `json:"@odata.type"`
	DisplayName            string `json:"displayName"`
	Description            string `json:"description"`
	Publisher              string `json:"publisher"`
	FileName               string `json:"fileName"`
	CommandLine            string `json:"commandLine"`
	ProductCode            string `json:"productCode"`
	ProductVersion         string `json:"productVersion"`
	IgnoreVersionDetection bool   `json:"ignoreVersionDetection"`
	UseDeviceContext       bool   `json:"useDeviceContext"`
}

// NewIntuneLOBApp describes an MSI as a LOB app from its Property table
// (ProductCode, ProductVersion, Manufacturer).
func NewIntuneLOBApp(fileName string, props map[string]string, commandLine string) (IntuneLOBApp, error) {
	for _, k := range []string{"ProductCode", "ProductVersion", "Manufacturer"} {
		if props[k] == "" {
			return IntuneLOBApp{}, fmt.Errorf("intune: the MSI has no %s property", k)
		}
	}
	return IntuneLOBApp{ODataType: "#microsoft.graph.windowsMobileMSI",
		DisplayName: "Anchorwatch agent", Publisher: props["Manufacturer"],
		Description: "Keeps the organization's CA in every trust store and reports to the Anchorwatch collector.",
		FileName:    fileName, CommandLine: commandLine, ProductCode: props["ProductCode"],
		ProductVersion: props["ProductVersion"], UseDeviceContext: true}, nil
}

// IntuneImportScript is a PowerShell script that creates the trusted
// certificate profiles of a kit (graph/*-trusted-certificate-*.json) with
// the Microsoft Graph PowerShell SDK, and the LOB app object when the kit
// has one (graph/lob-app.json; its file is uploaded in the Intune admin
// center, which encrypts and commits it).
const IntuneImportScript = `#Requires -Modules Microsoft.Graph.Authentication
<#
.SYNOPSIS
  Creates the Intune profiles (and the LOB app object) of this kit through
  Microsoft Graph (written by anchorwatch package intune).
.EXAMPLE
  .\Import-AnchorwatchIntune.ps1 -Platforms windows,macos
#>
param([string[]]$Platforms = @('windows', 'macos', 'ios'))
$ErrorActionPreference = 'Stop'
Connect-MgGraph -Scopes 'DeviceManagementConfiguration.ReadWrite.All', 'DeviceManagementApps.ReadWrite.All' | Out-Null
foreach ($p in $Platforms) {
  foreach ($f in Get-ChildItem (Join-Path $PSScriptRoot "graph\$p-trusted-certificate-*.json")) {
    $r = Invoke-MgGraphRequest -Method POST -Uri '` + GraphPath + `' -Body (Get-Content -Raw $f.FullName) -ContentType 'application/json'
    Write-Host "created profile $($r.displayName) ($($r.id)): assign it to a group in the Intune admin center"
  }
}
$lob = Join-Path $PSScriptRoot 'graph\lob-app.json'
if (Test-Path $lob) {
  $r = Invoke-MgGraphRequest -Method POST -Uri 'https://graph.microsoft.com/v1.0/deviceAppManagement/mobileApps' -Body (Get-Content -Raw $lob) -ContentType 'application/json'
  Write-Host "created app $($r.displayName) ($($r.id)): upload the MSI to it in the Intune admin center (Apps > Windows > the app > Properties)"
}
`
