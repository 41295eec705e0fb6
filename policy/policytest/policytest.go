package policytest

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"testing"

	"go.mozilla.org/pkcs7"

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

// Raw signs doc as it is (PKCS#7, SHA-256, content attached) without the
// checks policy.Sign makes and the not_after it adds: a policy signed by
// an older version, or one kept past its expiry, as a compromised
// collector would replay it.
func Raw(tb testing.TB, doc []byte, cert *x509.Certificate, key crypto.Signer) []byte {
	tb.Helper()
	sd, err := pkcs7.NewSignedData(doc)
	if err != nil {
		tb.Fatal(err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSigner(cert, key, pkcs7.SignerInfoConfig{}); err != nil {
		tb.Fatal(err)
	}
	blob, err := sd.Finish()
	if err != nil {
		tb.Fatal(err)
	}
	return blob
}
