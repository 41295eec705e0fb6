package proxy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// originSpec is how the grader plays one check's origin: the chain it
// serves, its key, and the TLS settings (Go's crypto/tls) or the openssl
// s_server cipher list (for what Go cannot play).
type originSpec struct {
	check Check
	host  string
	chain []*x509.Certificate // leaf first, then what is sent with it
	key   crypto.Signer
	// minVersion, maxVersion and ciphers restrict the Go server; zero
	// means Go's defaults.
	minVersion, maxVersion uint16
	ciphers                []uint16
	// opensslCiphers, when set, makes openssl s_server play the origin
	// with this cipher list (TLS 1.2).
	opensslCiphers string
}

func (s *originSpec) leaf() *x509.Certificate { return s.chain[0] }

// revocation is what the CRL and the OCSP responder say.
type revocation struct {
	crlRevoked  map[string]bool // serials (decimal) listed in the CRL
	ocspRevoked map[string]bool // serials the OCSP responder calls revoked
	issued      map[string]bool // every serial the grading CA issued this run
}

// leafTemplate is a server certificate for names, valid from nb to na.
func leafTemplate(names []string, nb, na time.Time) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: names[0], Organization: []string{"Anchorwatch proxy grading"}},
		DNSNames:     names,
		NotBefore:    nb,
		NotAfter:     na,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
}

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, fmt.Errorf("origin certificate %s: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

// buildOrigins makes the certificates of every check's origin: base is
// the http:// URL of the grader's CRL and OCSP service.
func buildOrigins(p *PKI, base string, now time.Time) ([]*originSpec, *revocation, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	rev := &revocation{crlRevoked: map[string]bool{}, ocspRevoked: map[string]bool{}, issued: map[string]bool{}}
	var specs []*originSpec
	for _, c := range Checks() {
		s := &originSpec{check: c, host: c.ID + "." + p.Domain, key: key}
		if err := p.prepare(s, base, now, rev); err != nil {
			return nil, nil, err
		}
		specs = append(specs, s)
	}
	return specs, rev, nil
}

// prepare issues the certificate of one check's origin and sets its TLS
// restrictions.
func (p *PKI) prepare(s *originSpec, base string, now time.Time, rev *revocation) error {
	tmpl := leafTemplate([]string{s.host}, now.Add(-time.Hour), now.Add(7*24*time.Hour))
	parent, parentKey := p.CA, p.CAKey
	switch s.check.ID {
	case CheckExpired:
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-30*24*time.Hour), now.Add(-24*time.Hour)
	case CheckNotYetValid:
		tmpl.NotBefore, tmpl.NotAfter = now.Add(30*24*time.Hour), now.Add(60*24*time.Hour)
	case CheckSelfSigned:
		cert, err := sign(tmpl, tmpl, s.key.Public(), s.key)
		s.chain = []*x509.Certificate{cert}
		return err
	case CheckUntrusted:
		return p.untrusted(s, tmpl, now)
	case CheckWrongHost:
		tmpl.DNSNames = []string{"elsewhere." + p.Domain}
		tmpl.Subject.CommonName = tmpl.DNSNames[0]
	case CheckRevokedCRL:
		tmpl.CRLDistributionPoints = []string{base + "/crl/grading-ca.crl"}
		rev.crlRevoked[tmpl.SerialNumber.String()] = true
	case CheckRevokedOCSP:
		tmpl.OCSPServer = []string{base + "/ocsp"}
		rev.ocspRevoked[tmpl.SerialNumber.String()] = true
	case CheckSHA1:
		tmpl.SignatureAlgorithm = x509.SHA1WithRSA
	case CheckRSA1024:
		k, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			return err
		}
		s.key = k
	case CheckTLS10:
		s.minVersion, s.maxVersion = tls.VersionTLS10, tls.VersionTLS10
	case CheckTLS11:
		s.minVersion, s.maxVersion = tls.VersionTLS11, tls.VersionTLS11
	case CheckRC4:
		s.maxVersion, s.ciphers = tls.VersionTLS12, []uint16{tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA, tls.TLS_RSA_WITH_RC4_128_SHA}
	case Check3DES:
		s.maxVersion, s.ciphers = tls.VersionTLS12, []uint16{tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}
	case CheckRSAKex:
		s.maxVersion, s.ciphers = tls.VersionTLS12, []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384}
	case CheckNullCipher:
		s.opensslCiphers = "NULL-SHA256:NULL-SHA:@SECLEVEL=0"
	case CheckModernRoot:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		s.key, parent, parentKey = k, p.ModernCA, p.ModernKey
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	cert, err := sign(tmpl, parent, s.key.Public(), parentKey)
	if err != nil {
		return err
	}
	rev.issued[cert.SerialNumber.String()] = parent == p.CA
	s.chain = []*x509.Certificate{cert, parent}
	return nil
}

// untrusted issues the leaf from a throwaway root no one trusts.
func (p *PKI) untrusted(s *originSpec, tmpl *x509.Certificate, now time.Time) error {
	rootKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	rootTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "Anchorwatch untrusted root", Organization: []string{"Anchorwatch proxy grading"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	root, err := sign(rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return err
	}
	cert, err := sign(tmpl, root, s.key.Public(), rootKey)
	s.chain = []*x509.Certificate{cert, root}
	return err
}

// crl is the grading CA's CRL: the revoked-crl origin's certificate.
func (p *PKI) crl(rev *revocation, now time.Time) ([]byte, error) {
	var entries []x509.RevocationListEntry
	for s := range rev.crlRevoked {
		n, _ := new(big.Int).SetString(s, 10)
		entries = append(entries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: now.Add(-time.Hour), ReasonCode: 1})
	}
	return x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(now.Unix()), ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(7 * 24 * time.Hour),
		RevokedCertificateEntries: entries,
	}, p.CA, p.CAKey)
}
