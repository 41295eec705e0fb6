package policy

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"text/template"

	"github.com/anchorwatch/anchorwatch/stores"
)

// placeholderPEM stands for the CA in an example written without one.
const placeholderPEM = "-----BEGIN CERTIFICATE-----\n(paste your CA certificate here)\n-----END CERTIFICATE-----\n"

var exampleTemplate = template.Must(template.New("policy").Parse(`{
  "//": "Anchorwatch policy. Keys starting with // are comments; any other unknown key is an error. Sign with: anchorwatch policy sign --key signer.key --cert signer.pem policy.json -o policy.p7m",

  "//serial": "Positive integer. Increase it for every policy you publish: agents refuse a policy whose serial is not greater than the one they hold (replay protection).",
  "serial": 1,

  "//not_after": "RFC 3339 time after which agents refuse this policy (an agent already holding it keeps enforcing it and reports policy-expired). Leave it out: policy sign sets it (default 90 days from signing; --valid-for 30d). not_before (optional) is the time before which it is refused.",

  "//anchors": "The CAs to install. pem: exactly one CA certificate. stores: the store kinds it goes to (system, nss, java, windows, macos, firefox); empty = all. role: root (self-signed) or intermediate; empty = derived. remove_after (optional, RFC 3339): from then on the agent removes this CA instead of installing it, for the old CA of a rotation.",
  "anchors": [
    {
      "pem": {{.PEM}},
      "stores": [],
      "role": {{.Role}}
    }
  ],

  "//remove": "Certificates to remove from every store, by SHA-256 of the DER (colons allowed). after (optional, RFC 3339) delays the removal: publish the new CA in anchors and the old one here with after = end of the overlap.",
  "remove": [],

  "//blocklist": "Known-bad roots added to the built-in blocklist (Superfish, eDellRoot, ...). Name each by sha256 (certificate) or spki_sha256 (key, catches reissues); reason is required. A blocked root in a store makes it blocked-present. Example entries: docs/policy.md, Examples.",
  "blocklist": [],

  "//distrust": "CAs every agent actively distrusts (a leaked or retired CA): distrusted where the store can say so (Windows Disallowed, NSS, p11-kit, Debian, macOS), removed elsewhere, healed when a copy comes back. Give pem (the certificate: needed to refuse it in advance) and/or sha256, spki_sha256 (the key: every certificate of a leaked key); reason is required; after (optional, RFC 3339) starts it later. anchorwatch policy rotate writes this for you.",
  "distrust": [],

  "//enforce_blocklist": "true: distrust every blocklisted root (built-in and blocklist) the way distrust does, instead of only reporting it.",
  "enforce_blocklist": false,

  "//report_unknown_roots": "true: agents report every root that is neither shipped by the OS/JDK/NSS vendor nor managed by this policy.",
  "report_unknown_roots": true,

  "//exemptions": "Devices deliberately left unmanaged, so the collector does not flag them: hosts (hostnames, *.suffix allowed), subnets (CIDR), macs, groups. reason is required; expires (optional, RFC 3339) ends the exemption. Example entries: docs/policy.md, Examples.",
  "exemptions": [],

  "//do_not_decrypt": "Traffic the interception proxy must pass through unopened: destinations (host names, *.domain, IPs, CIDR) and/or clients (IPs, CIDR: a works council, a doctor, servers). Both in one entry: those clients to those destinations. reason and expires (RFC 3339) are required. Export for the proxy: anchorwatch proxy bypass. Example entries: docs/policy.md, Examples.",
  "do_not_decrypt": [],

  "//heartbeat_interval": "How often an agent with unchanged state checks in (Go duration, 10s..24h). Default 5m.",
  "heartbeat_interval": "5m",

  "//rescan_interval": "Full rescan of every store, the safety net beside change notifications (10s..24h). Default 15m.",
  "rescan_interval": "15m",

  "//next_signers": "Certificates (PEM) of the policy signer(s) that take over: agents accepting this policy then accept one they sign, and drop the old signer.",
  "next_signers": [],

  "//java_passwords": "Passwords of Java keystores that use neither changeit nor an empty password, by absolute path.",
  "java_passwords": {}
}
`))

// Example returns an example policy with every field documented in "//"
// comments. Lists it does not fill (blocklist, exemptions, do_not_decrypt)
// are empty: an example entry signed unnoticed would be enforced, so the
// examples live in docs/policy.md. When ca is nil the anchor holds a placeholder to replace
// (and the document does not validate until it is replaced).
func Example(ca *x509.Certificate) []byte {
	pemText, role := placeholderPEM, RoleRoot
	if ca != nil {
		pemText = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}))
		if !stores.IsSelfSigned(ca) {
			role = RoleIntermediate
		}
	}
	q := func(s string) string {
		b, _ := json.Marshal(s)
		return string(b)
	}
	var buf bytes.Buffer
	_ = exampleTemplate.Execute(&buf, map[string]string{"PEM": q(pemText), "Role": q(role)})
	return []byte(strings.ReplaceAll(buf.String(), "\t", "  "))
}
