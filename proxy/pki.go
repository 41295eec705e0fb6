package proxy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// PKI is the grading PKI: two roots the proxy is told to trust upstream
// (RSA-2048, and ECDSA P-384 for the modern-root check), each
// name-constrained to the grading domain so that trusting them lets no one
// impersonate any other site, and one intermediate under each, which signs
// the test origins' certificates. The roots' keys are thrown away once the
// intermediates are signed; the intermediates' keys are kept to sign
// leaves, CRLs and OCSP answers.
type PKI struct {
	Domain     string
	Root       *x509.Certificate
	ModernRoot *x509.Certificate
	CA         *x509.Certificate
	CAKey      crypto.Signer
	ModernCA   *x509.Certificate
	ModernKey  crypto.Signer
}

// DefaultDomain is the grading domain: RFC 2606 reserves .test.
const DefaultDomain = "grade.anchorwatch.test"

// Files of a saved PKI.
const (
	RootsFile     = "roots.pem" // what the proxy must trust upstream
	caFile        = "grading-ca.pem"
	caKeyFile     = "grading-ca.key"
	modernFile    = "grading-ca-x2.pem"
	modernKeyFile = "grading-ca-x2.key"
	maxPKIFile    = 64 << 10
	pkiLifetime   = 5 * 365 * 24 * time.Hour
)

// NewPKI makes a fresh grading PKI for domain.
func NewPKI(domain string, now time.Time) (*PKI, error) {
	if err := checkDomain(domain); err != nil {
		return nil, err
	}
	p := &PKI{Domain: domain}
	rootKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	modernRootKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if p.Root, err = p.ca("Anchorwatch grading root", nil, rootKey, rootKey, now); err != nil {
		return nil, err
	}
	if p.ModernRoot, err = p.ca("Anchorwatch grading root X2", nil, modernRootKey, modernRootKey, now); err != nil {
		return nil, err
	}
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	modernKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if p.CA, err = p.ca("Anchorwatch grading CA", p.Root, rootKey, caKey, now); err != nil {
		return nil, err
	}
	if p.ModernCA, err = p.ca("Anchorwatch grading CA X2", p.ModernRoot, modernRootKey, modernKey, now); err != nil {
		return nil, err
	}
	p.CAKey, p.ModernKey = caKey, modernKey
	return p, nil
}

func checkDomain(domain string) error {
	norm, err := policy.NormalizeDestination(domain)
	if err != nil || norm != domain || strings.ContainsAny(domain, "*/") || !strings.Contains(domain, ".") {
		return fmt.Errorf("grading domain %q: want a lowercase DNS domain such as %s", domain, DefaultDomain)
	}
	return nil
}

// ca makes a CA certificate for key, signed by parent's signer (self-signed
// when parent is nil), limited to the grading domain.
func (p *PKI) ca(cn string, parent *x509.Certificate, parentKey, key crypto.Signer, now time.Time) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber:                serial(),
		Subject:                     pkix.Name{CommonName: cn, Organization: []string{"Anchorwatch proxy grading"}},
		NotBefore:                   now.Add(-time.Hour),
		NotAfter:                    now.Add(pkiLifetime),
		IsCA:                        true,
		BasicConstraintsValid:       true,
		MaxPathLen:                  1,
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         []string{p.Domain},
	}
	if parent == nil {
		parent = tmpl
	} else {
		tmpl.MaxPathLen, tmpl.MaxPathLenZero = 0, true
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, fmt.Errorf("grading PKI: %s: %w", cn, err)
	}
	return x509.ParseCertificate(der)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n.Add(n, big.NewInt(1))
}

// RootsPEM is the bundle the proxy must trust upstream.
func (p *PKI) RootsPEM() []byte {
	return append(certPEM(p.Root), certPEM(p.ModernRoot)...)
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func keyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Save writes the PKI into dir (created 0700): roots.pem (0644) and the
// intermediates with their keys (0600).
func (p *PKI) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("grading PKI: %w", err)
	}
	caKey, err := keyPEM(p.CAKey)
	if err != nil {
		return fmt.Errorf("grading PKI: %w", err)
	}
	modernKey, err := keyPEM(p.ModernKey)
	if err != nil {
		return fmt.Errorf("grading PKI: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
		mode fs.FileMode
	}{
		{caKeyFile, caKey, 0o600}, {modernKeyFile, modernKey, 0o600},
		{caFile, certPEM(p.CA), 0o644}, {modernFile, certPEM(p.ModernCA), 0o644},
		{RootsFile, p.RootsPEM(), 0o644}, // last: its presence marks a complete PKI
	} {
		if err := fsroot.WriteFileAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("grading PKI: %w", err)
		}
	}
	return nil
}

// ErrNoPKI is returned by LoadPKI for a directory without a saved PKI.
var ErrNoPKI = errors.New("no grading PKI")

// LoadPKI reads a PKI saved by Save.
func LoadPKI(dir string) (*PKI, error) {
	roots, err := readSmallFile(filepath.Join(dir, RootsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNoPKI, dir)
	}
	if err != nil {
		return nil, err
	}
	certs, err := policy.ParseCAs(roots)
	if err != nil || len(certs) != 2 {
		return nil, fmt.Errorf("%s: want the two grading roots: %v", filepath.Join(dir, RootsFile), err)
	}
	p := &PKI{Root: certs[0], ModernRoot: certs[1]}
	if len(p.Root.PermittedDNSDomains) != 1 {
		return nil, fmt.Errorf("%s: not a grading root (no name constraint)", filepath.Join(dir, RootsFile))
	}
	p.Domain = p.Root.PermittedDNSDomains[0]
	if p.CA, p.CAKey, err = loadPair(dir, caFile, caKeyFile, p.Root); err != nil {
		return nil, err
	}
	if p.ModernCA, p.ModernKey, err = loadPair(dir, modernFile, modernKeyFile, p.ModernRoot); err != nil {
		return nil, err
	}
	return p, nil
}

func loadPair(dir, certName, keyName string, parent *x509.Certificate) (*x509.Certificate, crypto.Signer, error) {
	certData, err := readSmallFile(filepath.Join(dir, certName))
	if err != nil {
		return nil, nil, err
	}
	keyData, err := readSmallFile(filepath.Join(dir, keyName))
	if err != nil {
		return nil, nil, err
	}
	certs, err := policy.ParseCAs(certData)
	if err != nil || len(certs) != 1 || certs[0].CheckSignatureFrom(parent) != nil {
		return nil, nil, fmt.Errorf("%s: not the grading intermediate under %s", filepath.Join(dir, certName), RootsFile)
	}
	block, _ := pem.Decode(keyData)
	if block == nil {
		return nil, nil, fmt.Errorf("%s: no PEM private key", filepath.Join(dir, keyName))
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	signer, ok := k.(crypto.Signer)
	if err != nil || !ok {
		return nil, nil, fmt.Errorf("%s: not a PKCS#8 private key: %v", filepath.Join(dir, keyName), err)
	}
	if !publicKeysEqual(signer.Public(), certs[0].PublicKey) {
		return nil, nil, fmt.Errorf("%s does not match %s", filepath.Join(dir, keyName), certName)
	}
	return certs[0], signer, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// OpenPKI loads the PKI saved in dir, or makes one for domain and saves
// it there. created tells which. A saved PKI for another domain is an
// error.
func OpenPKI(dir, domain string, now time.Time) (p *PKI, created bool, err error) {
	p, err = LoadPKI(dir)
	if err == nil {
		if p.Domain != domain {
			return nil, false, fmt.Errorf("the grading PKI in %s is for %s, not %s: use another directory or that domain", dir, p.Domain, domain)
		}
		return p, false, nil
	}
	if !errors.Is(err, ErrNoPKI) {
		return nil, false, err
	}
	if p, err = NewPKI(domain, now); err != nil {
		return nil, false, err
	}
	return p, true, p.Save(dir)
}

// readSmallFile reads a regular file of at most maxPKIFile bytes, not
// through a symbolic link.
func readSmallFile(path string) ([]byte, error) {
	data, err := fsroot.ReadFile(path, fsroot.Want{Max: maxPKIFile})
	if errors.Is(err, fsroot.ErrSymlink) {
		return nil, fmt.Errorf("%s: not a regular file: %w", path, err)
	}
	return data, err
}
