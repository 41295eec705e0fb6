// Package pkitest builds a real test PKI with the openssl command line for
// the tests of the PKI health checks: a root, an intermediate and a leaf
// issued with `openssl ca`, their CRLs made with `openssl ca -gencrl` and
// served by an HTTP server on 127.0.0.1, and `openssl ocsp` responders
// started on demand. Nothing in the product imports it.
//
//	p := pkitest.New(t)
//	p.StartResponder(t, p.Root)   // answers for the intermediate
//	p.StartResponder(t, p.Inter)  // answers for the leaf
//	cert := p.Inter.Cert          // CDP http://127.0.0.1:…/root.crl, OCSP http://127.0.0.1:…
//
// OpenSSL 3.0's responder takes a port number only (-port N) and listens
// on every address; the certificates name it as 127.0.0.1:N and every
// query goes over loopback.
package pkitest
