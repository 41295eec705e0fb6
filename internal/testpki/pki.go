package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Org is the subject organization of every certificate made here.
const Org = "Anchorwatch test"

// CA is a certificate and its private key: a root, an intermediate, or
// (from SelfSigned) an end-entity certificate.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// An Option changes a certificate made by New, NewCA, Intermediate or
// SelfSigned.
type Option func(*config)

type config struct {
	notBefore, notAfter time.Time
	key                 crypto.Signer
	rsaBits             int
	eku                 []x509.ExtKeyUsage
}

// Valid sets the validity period.
func Valid(notBefore, notAfter time.Time) Option {
	return func(c *config) { c.notBefore, c.notAfter = notBefore, notAfter }
}

// Key certifies key instead of a fresh one: two certificates made with
// the same key share their SPKI (a re-issued root).
func Key(key crypto.Signer) Option { return func(c *config) { c.key = key } }

// RSA makes the fresh key an RSA key of bits instead of ECDSA P-256.
func RSA(bits int) Option { return func(c *config) { c.rsaBits = bits } }

// ExtKeyUsage sets the extended key usages (none by default on a CA).
func ExtKeyUsage(eku ...x509.ExtKeyUsage) Option { return func(c *config) { c.eku = eku } }

func newConfig(opts []Option) (*config, error) {
	now := time.Now()
	c := &config{notBefore: now.Add(-time.Hour), notAfter: now.Add(365 * 24 * time.Hour)}
	for _, o := range opts {
		o(c)
	}
	if c.key != nil {
		return c, nil
	}
	var err error
	if c.rsaBits > 0 {
		c.key, err = rsa.GenerateKey(rand.Reader, c.rsaBits)
	} else {
		c.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return nil, fmt.Errorf("testpki: generate key: %w", err)
	}
	return c, nil
}

// New makes a self-signed root CA named cn.
func New(cn string, opts ...Option) (*CA, error) {
	return issue(nil, cn, true, opts)
}

// NewCA makes a self-signed root CA named cn, failing tb on error.
func NewCA(tb testing.TB, cn string, opts ...Option) *CA {
	tb.Helper()
	ca, err := New(cn, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return ca
}

// Intermediate makes a CA named cn signed by ca.
func (ca *CA) Intermediate(tb testing.TB, cn string, opts ...Option) *CA {
	tb.Helper()
	sub, err := issue(ca, cn, true, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return sub
}

// SelfSigned makes a self-signed end-entity certificate named cn (basic
// constraints CA:FALSE, digital signature): a policy signer, or the "leaf
// given as a CA" of a rejection test.
func SelfSigned(tb testing.TB, cn string, opts ...Option) (*x509.Certificate, crypto.Signer) {
	tb.Helper()
	c, err := issue(nil, cn, false, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return c.Cert, c.Key
}

// Leaf issues a TLS server certificate from ca for hosts (DNS names or IP
// addresses; the first is also the common name). Its validity ends no
// later than ca's. The result carries the parsed certificate in Leaf.
func (ca *CA) Leaf(tb testing.TB, hosts ...string) tls.Certificate {
	tb.Helper()
	if len(hosts) == 0 {
		tb.Fatal("testpki: Leaf needs at least one host name or IP address")
	}
	c, err := newConfig(nil)
	if err != nil {
		tb.Fatal(err)
	}
	if c.notAfter.After(ca.Cert.NotAfter) {
		c.notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		NotBefore:   c.notBefore,
		NotAfter:    c.notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	cert, err := sign(tmpl, ca, c.key)
	if err != nil {
		tb.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: c.key, Leaf: cert}
}

// issue makes a CA (isCA) or end-entity certificate named cn, signed by
// parent or, when parent is nil, by its own key.
func issue(parent *CA, cn string, isCA bool, opts []Option) (*CA, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn, Organization: []string{Org}},
		NotBefore:             c.notBefore,
		NotAfter:              c.notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           c.eku,
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	}
	cert, err := sign(tmpl, parent, c.key)
	if err != nil {
		return nil, fmt.Errorf("testpki: certificate %q: %w", cn, err)
	}
	return &CA{Cert: cert, Key: c.key}, nil
}

// sign certifies key's public half with tmpl, signed by parent or
// self-signed when parent is nil.
func sign(tmpl *x509.Certificate, parent *CA, key crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial.Add(serial, big.NewInt(1))
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// PEM encodes certs as a PEM bundle.
func PEM(certs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

// WritePEM writes certs as a PEM bundle to path (mode 0644), creating its
// directory, and returns path.
func WritePEM(tb testing.TB, path string, certs ...*x509.Certificate) string {
	tb.Helper()
	if len(certs) == 0 {
		tb.Fatal(errors.New("testpki: WritePEM needs at least one certificate"))
	}
	return writeFile(tb, path, PEM(certs...))
}

// WriteDER writes c in DER to path (mode 0644), creating its directory,
// and returns path.
func WriteDER(tb testing.TB, path string, c *x509.Certificate) string {
	tb.Helper()
	return writeFile(tb, path, c.Raw)
}

func writeFile(tb testing.TB, path string, data []byte) string {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}
