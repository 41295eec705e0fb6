package policytest

import (
	"encoding/json"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/policy"
)

// WithExemptions signs, with a fresh test signer, a valid policy of the
// given serial holding one test CA and the exemptions.
func WithExemptions(tb testing.TB, serial int64, ex []policy.Exemption) []byte {
	tb.Helper()
	ca := testpki.NewCA(tb, "Test Interception CA")
	signer, key := testpki.SelfSigned(tb, "Test Policy Signer")
	doc, err := json.Marshal(map[string]any{
		"serial":     serial,
		"anchors":    []map[string]any{{"pem": string(testpki.PEM(ca.Cert))}},
		"exemptions": ex,
	})
	if err != nil {
		tb.Fatal(err)
	}
	blob, err := policy.Sign(doc, signer, key)
	if err != nil {
		tb.Fatal(err)
	}
	return blob
}
