// Package testpki makes throwaway certificate authorities, leaves and PEM
// files for tests and demo tooling: one place instead of a copy in every
// package's helpers. Nothing in the product imports it.
//
// Certificates are ECDSA P-256 unless an option says otherwise, valid from
// an hour ago for a year, with a random 127-bit serial and the subject
// organization "Anchorwatch test". The testing.TB functions fail the test
// (tb.Fatal) on any error; New is the error-returning variant for programs.
//
//	ca := testpki.NewCA(t, "Corp Interception CA")
//	file := testpki.WritePEM(t, filepath.Join(t.TempDir(), "ca.pem"), ca.Cert)
//	addr, results := testpki.ServeTLS(t, ca.Leaf(t, "127.0.0.1"))
//	inter := ca.Intermediate(t, "Corp Issuing CA")
//	old := testpki.NewCA(t, "Old CA", testpki.Valid(past, past.Add(time.Hour)))
package testpki
