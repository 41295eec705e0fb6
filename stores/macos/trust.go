package macos

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
)

// Trust settings result values (SecTrustSettings.h).
const (
	resultInvalid     = 0
	resultTrustRoot   = 1
	resultTrustAsRoot = 2
	resultDeny        = 3
	resultUnspecified = 4
)

// Apple policy OIDs (SecPolicyOIDs.h, 1.2.840.113635.100.1.x) as trust
// settings store them in kSecTrustSettingsPolicy: the DER content bytes.
var (
	oidApplePolicy = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x63, 0x64, 0x01}
	oidSSLPolicy   = policyOID(3)
)

// policyOID returns the DER content of 1.2.840.113635.100.1.n (n < 128).
func policyOID(n byte) []byte { return append(append([]byte{}, oidApplePolicy...), n) }

// policyPurposes maps the last arc of the Apple policies a CA can be
// trusted for to a purpose. Revocation checking (6, 7) trusts no CA for
// anything; every other policy (basic X.509, IPsec, EAP, iChat, package
// signing…) counts as a purpose beyond TLS: stores.PurposeAny.
var policyPurposes = map[byte]stores.Purpose{
	3:  stores.PurposeServerAuth,      // kSecPolicyAppleSSL
	8:  stores.PurposeEmailProtection, // kSecPolicyAppleSMIME
	10: stores.PurposeCodeSigning,     // code signing (legacy)
	16: stores.PurposeCodeSigning,     // kSecPolicyAppleCodeSigning
	20: stores.PurposeTimeStamping,    // kSecPolicyAppleTimeStamping
}

// purposeOfPolicy returns the purpose a constraint for policy oid trusts
// for ("" for none).
func purposeOfPolicy(oid []byte) stores.Purpose {
	if len(oid) == len(oidApplePolicy)+1 && bytes.HasPrefix(oid, oidApplePolicy) {
		n := oid[len(oid)-1]
		if n == 6 || n == 7 {
			return ""
		}
		if p, ok := policyPurposes[n]; ok {
			return p
		}
	}
	return stores.PurposeAny
}

// Trust is what the admin trust settings say of one certificate.
type Trust struct {
	// SSL is trust for TLS server authentication.
	SSL bool
	// Purposes are every purpose the settings trust it for
	// (stores.PurposeAny: every policy, or one beyond those named).
	Purposes []stores.Purpose
	// Denied is set when the settings deny it for every policy (what
	// `security add-trusted-cert -r deny` writes: Distrust).
	Denied bool
}

// TrustSettings maps the uppercase hex SHA-1 of a certificate to its
// admin trust settings.
type TrustSettings map[string]Trust

// ParseTrustSettings parses exported trust settings (`security
// trust-settings-export -d FILE`, the format of
// /Library/Security/Trust Settings/Admin.plist): a dict whose "trustList"
// maps each certificate's SHA-1 to a dict with a "trustSettings" array of
// usage constraints. Per SecTrustSettings.h: an empty array means "always
// trust"; otherwise the first constraint that applies to the SSL policy
// (no kSecTrustSettingsPolicy, or the SSL policy OID), is not limited to
// an application or a host name, and whose result is not Unspecified
// decides: TrustRoot or TrustAsRoot trust, Deny does not; no deciding
// constraint means not trusted. The same walk, policy by policy, gives
// the purposes (Trust).
func ParseTrustSettings(b []byte) (TrustSettings, error) {
	v, err := parsePlist(b)
	if err != nil {
		return nil, fmt.Errorf("trust settings: %w", err)
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("trust settings: %w: top level is not a dict", ErrBadOutput)
	}
	list, ok := top["trustList"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("trust settings: %w: no trustList dict", ErrBadOutput)
	}
	out := TrustSettings{}
	for sha1, e := range list {
		entry, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("trust settings: %w: entry %s is not a dict", ErrBadOutput, sha1)
		}
		key := strings.ToUpper(sha1)
		raw, present := entry["trustSettings"]
		if !present {
			// No usage constraints at all: SecTrustSettings treats a
			// missing array like an empty one (always trust).
			out[key] = Trust{SSL: true, Purposes: []stores.Purpose{stores.PurposeAny}}
			continue
		}
		arr, ok := raw.([]any)
		if !ok {
			return nil, fmt.Errorf("trust settings: %w: trustSettings of %s is not an array", ErrBadOutput, sha1)
		}
		t, err := evaluate(arr)
		if err != nil {
			return nil, fmt.Errorf("trust settings for %s: %w", sha1, err)
		}
		out[key] = t
	}
	return out, nil
}

// evaluate walks the usage constraints in order: for each policy the
// first constraint that applies decides; one without a policy decides
// every policy not decided yet.
func evaluate(constraints []any) (Trust, error) {
	if len(constraints) == 0 {
		return Trust{SSL: true, Purposes: []stores.Purpose{stores.PurposeAny}}, nil
	}
	var t Trust
	decided := map[string]bool{}
	for i, c := range constraints {
		oid, result, applies, err := constraint(c, i)
		if err != nil {
			return Trust{}, err
		}
		if !applies || result == resultUnspecified {
			continue
		}
		trust := result == resultTrustRoot || result == resultTrustAsRoot
		if oid == nil {
			if !decided[string(oidSSLPolicy)] {
				t.SSL = trust
			}
			if trust {
				t.Purposes = append(t.Purposes, stores.PurposeAny)
			} else if len(t.Purposes) == 0 {
				t.Denied = true
			}
			break
		}
		if decided[string(oid)] {
			continue
		}
		decided[string(oid)] = true
		if bytes.Equal(oid, oidSSLPolicy) {
			t.SSL = trust
		}
		if p := purposeOfPolicy(oid); trust && p != "" {
			t.Purposes = append(t.Purposes, p)
		}
	}
	t.Purposes = stores.SortPurposes(t.Purposes)
	return t, nil
}

// constraint reads one usage constraint: its policy (nil: every policy),
// its result, and whether it applies to the machine as a whole (not to
// one application, host name or e-mail address).
func constraint(c any, i int) (oid []byte, result int64, applies bool, err error) {
	d, ok := c.(map[string]any)
	if !ok {
		return nil, 0, false, fmt.Errorf("%w: constraint %d is not a dict", ErrBadOutput, i)
	}
	result = resultTrustRoot // the default when absent
	if r, ok := d["kSecTrustSettingsResult"]; ok {
		n, ok := r.(int64)
		if !ok {
			return nil, 0, false, fmt.Errorf("%w: constraint %d: kSecTrustSettingsResult is not an integer", ErrBadOutput, i)
		}
		if n <= resultInvalid || n > resultUnspecified {
			return nil, 0, false, fmt.Errorf("%w: constraint %d: unknown result %d", ErrBadOutput, i, n)
		}
		result = n
	}
	if p, ok := d["kSecTrustSettingsPolicy"]; ok {
		if oid, ok = p.([]byte); !ok {
			return nil, 0, false, fmt.Errorf("%w: constraint %d: kSecTrustSettingsPolicy is not data", ErrBadOutput, i)
		}
	}
	_, app := d["kSecTrustSettingsApplication"]
	_, str := d["kSecTrustSettingsPolicyString"] // one host name or e-mail address
	return oid, result, !app && !str, nil
}
