package macos

import (
	"bytes"
	"fmt"
	"strings"
)

// Trust settings result values (SecTrustSettings.h).
const (
	resultInvalid     = 0
	resultTrustRoot   = 1
	resultTrustAsRoot = 2
	resultDeny        = 3
	resultUnspecified = 4
)

// oidSSLPolicy is the DER content of 1.2.840.113635.100.1.3 (kSecPolicyAppleSSL)
// as trust settings store it in kSecTrustSettingsPolicy.
var oidSSLPolicy = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x63, 0x64, 0x01, 0x03}

// TrustSettings maps the uppercase hex SHA-1 of a certificate to whether
// the admin trust settings trust it for TLS server authentication.
type TrustSettings map[string]bool

// ParseTrustSettings parses exported trust settings (`security
// trust-settings-export -d FILE`, the format of
// /Library/Security/Trust Settings/Admin.plist): a dict whose "trustList"
// maps each certificate's SHA-1 to a dict with a "trustSettings" array of
// usage constraints. Per SecTrustSettings.h: an empty array means "always
// trust"; otherwise the first constraint that applies to the SSL policy
// (no kSecTrustSettingsPolicy, or the SSL policy OID), is not limited to
// an application or a host name, and whose result is not Unspecified
// decides: TrustRoot or TrustAsRoot trust, Deny does not; no deciding
// constraint means not trusted.
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
			out[key] = true
			continue
		}
		arr, ok := raw.([]any)
		if !ok {
			return nil, fmt.Errorf("trust settings: %w: trustSettings of %s is not an array", ErrBadOutput, sha1)
		}
		t, err := sslTrusted(arr)
		if err != nil {
			return nil, fmt.Errorf("trust settings for %s: %w", sha1, err)
		}
		out[key] = t
	}
	return out, nil
}

func sslTrusted(constraints []any) (bool, error) {
	if len(constraints) == 0 {
		return true, nil
	}
	for i, c := range constraints {
		d, ok := c.(map[string]any)
		if !ok {
			return false, fmt.Errorf("%w: constraint %d is not a dict", ErrBadOutput, i)
		}
		if _, ok := d["kSecTrustSettingsApplication"]; ok {
			continue
		}
		if _, ok := d["kSecTrustSettingsPolicyString"]; ok {
			continue // limited to one host name or e-mail address
		}
		if p, ok := d["kSecTrustSettingsPolicy"]; ok {
			oid, ok := p.([]byte)
			if !ok {
				return false, fmt.Errorf("%w: constraint %d: kSecTrustSettingsPolicy is not data", ErrBadOutput, i)
			}
			if !bytes.Equal(oid, oidSSLPolicy) {
				continue
			}
		}
		result := int64(resultTrustRoot) // the default when absent
		if r, ok := d["kSecTrustSettingsResult"]; ok {
			n, ok := r.(int64)
			if !ok {
				return false, fmt.Errorf("%w: constraint %d: kSecTrustSettingsResult is not an integer", ErrBadOutput, i)
			}
			result = n
		}
		switch result {
		case resultTrustRoot, resultTrustAsRoot:
			return true, nil
		case resultDeny:
			return false, nil
		case resultUnspecified:
			continue
		default:
			return false, fmt.Errorf("%w: constraint %d: unknown result %d", ErrBadOutput, i, result)
		}
	}
	return false, nil
}
