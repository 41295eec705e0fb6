package installers

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"text/template"

	"github.com/anchorwatch/anchorwatch/stores/windows"
)

// The GPO kit: what an admin needs to deploy the CAs by Group Policy
// beyond Registry.pol.
//
//	Install-AnchorwatchGPO.ps1   creates or updates a GPO with the GroupPolicy
//	                             module (Set-GPRegistryValue), which keeps
//	                             Registry.pol, GPT.INI's version, AD's
//	                             versionNumber and gPCMachineExtensionNames
//	                             in step; -RemoveOthers rotates a CA out
//	Machine/Registry.pol         the same settings, for copying into SYSVOL
//	GPT.INI                      version 1, for a new GPO folder
//	gPCMachineExtensionNames.txt the value the GPO's AD object needs
//	README.txt                   where each piece goes, rotation, removal
//	<SHA1>.cer                   the certificates
//
// No domain controller ran the script here (none can run on Linux); the
// tests check that it carries exactly the Registry.pol's values.

// GPOMachineExtensionNames is gPCMachineExtensionNames for a GPO whose
// Machine\Registry.pol deploys certificates: the Registry client-side
// extension {35378EAC-…}, which applies Registry.pol, and the EFS
// recovery extension {B1BE8D72-…}, which applies public key policies,
// each with the Certificates snap-in {53D6AB1B-…} as tool, sorted by
// GUID as Group Policy requires.
const GPOMachineExtensionNames = "[{35378EAC-683F-11D2-A89A-00C04FBBCFA2}{53D6AB1B-2488-11D1-A28C-00C04FB94F17}]" +
	"[{B1BE8D72-6EAC-11D2-A4EA-00C04F79F83A}{53D6AB1B-2488-11D1-A28C-00C04FB94F17}]"

// gpoValue is one certificate's Registry.pol value.
type gpoValue struct {
	Key, SHA1, Subject, Blob string // Blob: base64
}

// GPOKit returns the files of the GPO kit by path ("/"-separated).
func GPOKit(cas []*x509.Certificate) (map[string][]byte, error) {
	pol, err := RegistryPol(cas)
	if err != nil {
		return nil, err
	}
	var values []gpoValue
	for _, c := range cas {
		key := GPORootKey
		if !IsRoot(c) {
			key = GPOCAKey
		}
		values = append(values, gpoValue{Key: `HKLM\` + key + `\` + SHA1Hex(c), SHA1: SHA1Hex(c),
			Subject: c.Subject.String(), Blob: base64.StdEncoding.EncodeToString(GPOBlob(c))})
	}
	var script, readme bytes.Buffer
	d := struct {
		Values                         []gpoValue
		RootKey, CAKey, ExtensionNames string
	}{values, `HKLM\` + GPORootKey, `HKLM\` + GPOCAKey, GPOMachineExtensionNames}
	if err := gpoScript.Execute(&script, d); err != nil {
		return nil, err
	}
	if err := gpoReadme.Execute(&readme, d); err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"Install-AnchorwatchGPO.ps1":   crlf(script.String()),
		"Machine/Registry.pol":         pol,
		"GPT.INI":                      crlf("[General]\nVersion=1\n"),
		"gPCMachineExtensionNames.txt": crlf(GPOMachineExtensionNames + "\n"),
		"README.txt":                   crlf(readme.String()),
	}
	for _, c := range cas {
		files[SHA1Hex(c)+".cer"] = c.Raw
	}
	return files, nil
}

// GPOBlob is the registry Blob Group Policy writes for c: the serialized
// certificate element crypt32 reads, with the SHA-1 hash property, the
// CERT_ENHKEY_USAGE_PROP_ID property (id 9) restricting the CA to TLS
// server authentication, and the DER.
func GPOBlob(c *x509.Certificate) []byte {
	sum := sha1.Sum(c.Raw)
	return windows.EncodeBlob(windows.Blob{DER: c.Raw, Props: map[uint32][]byte{
		windows.PropSHA1Hash: sum[:],
		windows.PropEKU:      windows.ServerAuthEKU(),
	}})
}

// crlf gives Windows line ends.
func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

var gpoScript = template.Must(template.New("ps1").Parse(`#Requires -Modules GroupPolicy
<#
.SYNOPSIS
  Deploys the organization's CAs to the machine Root/CA stores with a GPO
  (written by anchorwatch package gpo).
.DESCRIPTION
  Creates the GPO if it does not exist and sets, per CA, the certificate
  Blob under HKLM\Software\Policies\Microsoft\SystemCertificates. The
  GroupPolicy module updates Registry.pol, the GPO version and its
  client-side extension list itself. Link the GPO to an OU afterwards
  (New-GPLink). -RemoveOthers also removes every other certificate this GPO
  deploys: use it to rotate a CA out.
.EXAMPLE
  .\Install-AnchorwatchGPO.ps1 -GpoName "Anchorwatch CA" -RemoveOthers
#>
param(
  [Parameter(Mandatory = $true)][string]$GpoName,
  [switch]$RemoveOthers
)
$ErrorActionPreference = 'Stop'
$gpo = Get-GPO -Name $GpoName -ErrorAction SilentlyContinue
if (-not $gpo) { $gpo = New-GPO -Name $GpoName -Comment 'Anchorwatch: the organization CA in the machine certificate stores' }
$keep = @({{range .Values}}'{{.Key}}', {{end}}'')
{{range .Values}}
# {{.Subject}} (SHA-1 {{.SHA1}})
Set-GPRegistryValue -Guid $gpo.Id -Key '{{.Key}}' -ValueName 'Blob' -Type Binary -Value ([Convert]::FromBase64String('{{.Blob}}')) | Out-Null
{{end}}
if ($RemoveOthers) {
  foreach ($parent in @('{{.RootKey}}', '{{.CAKey}}')) {
    $old = Get-GPRegistryValue -Guid $gpo.Id -Key $parent -ErrorAction SilentlyContinue | Where-Object { $_.HasValue -eq $false -and $keep -notcontains $_.FullKeyPath }
    foreach ($k in $old) { Remove-GPRegistryValue -Guid $gpo.Id -Key $k.FullKeyPath | Out-Null; Write-Host "removed $($k.FullKeyPath)" }
  }
}
Write-Host "GPO '$GpoName' ($($gpo.Id)) deploys {{len .Values}} certificate(s). Link it: New-GPLink -Guid $($gpo.Id) -Target 'OU=...,DC=...'"
`))

var gpoReadme = template.Must(template.New("readme").Parse(`Anchorwatch GPO kit: the organization's CAs in the machine certificate stores
==========================================================================

Certificates (each also as <SHA1>.cer):
{{range .Values}}  {{.SHA1}}  {{.Subject}}
      {{.Key}}\Blob
{{end}}
1. Recommended: a script on a machine with the Group Policy Management tools
   (RSAT) and rights to edit GPOs:

     .\Install-AnchorwatchGPO.ps1 -GpoName "Anchorwatch CA"
     New-GPLink -Name "Anchorwatch CA" -Target "OU=Workstations,DC=example,DC=com"

   It creates the GPO (or updates it) through the GroupPolicy module, which
   keeps Registry.pol, the GPO version and the client-side extension list in
   step. Clients apply it at their next refresh (gpupdate /force to hurry).

2. By hand, into an existing GPO (create an empty one in the Group Policy
   Management Console first; its GUID is on the Details tab):
   - copy Machine\Registry.pol to
       \\<domain>\SYSVOL\<domain>\Policies\{GPO-GUID}\Machine\Registry.pol
   - raise the version in that folder's GPT.INI (Version=N; the low 16 bits
     count computer changes) AND the versionNumber attribute of the GPO's
     object in AD (CN={GPO-GUID},CN=Policies,CN=System,DC=...) to the same
     value, or clients will not notice the change;
   - set that object's gPCMachineExtensionNames attribute to
       {{.ExtensionNames}}
     (gPCMachineExtensionNames.txt): the Registry client-side extension applies
     Registry.pol only when the GPO lists it.
   GPT.INI here (Version=1) is for a brand-new GPO folder only.

3. One machine without a domain: LGPO.exe /m Machine\Registry.pol
   (Microsoft's Security Compliance Toolkit).

Rotating a CA: build the kit for the new CA (anchorwatch package gpo --ca new-ca.pem
-o gpo) and run Install-AnchorwatchGPO.ps1 -GpoName "Anchorwatch CA" -RemoveOthers:
the new certificate is added and every other certificate of this GPO removed.
Removing the CA everywhere: Remove-GPRegistryValue -Name "Anchorwatch CA" -Key
<the key above>, or unlink the GPO. Policy values under
HKLM\Software\Policies are not left behind: the Registry extension deletes
what a GPO no longer sets at the next refresh.

The Anchorwatch agent reports certificates Group Policy deployed (they live in
{{.RootKey}}) but never removes them: they belong to the GPO.
`))
