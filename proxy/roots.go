package proxy

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// maxBundle bounds a reference root bundle (Mozilla's is about 220 KiB).
const maxBundle = 16 << 20

// bundlePaths are where systems keep the current root bundle.
var bundlePaths = []string{
	"/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, Arch
	"/etc/pki/tls/certs/ca-bundle.crt",   // RHEL, Fedora
	"/etc/ssl/ca-bundle.pem",             // SUSE
	"/etc/ssl/cert.pem",                  // macOS, BSD
}

// SystemBundle finds and reads this system's root bundle, the reference
// against which missing roots are named.
func SystemBundle() (string, []*x509.Certificate, error) {
	for _, p := range bundlePaths {
		if _, err := os.Stat(p); err == nil {
			certs, err := LoadBundle(p)
			return p, certs, err
		}
	}
	return "", nil, errors.New("no system root bundle found: give --roots FILE")
}

// LoadBundle reads a PEM bundle of root certificates, skipping blocks that
// are not certificates or do not parse (old bundles hold a few oddities).
func LoadBundle(path string) ([]*x509.Certificate, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxBundle {
		return nil, fmt.Errorf("%s: over %d bytes", path, maxBundle)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			certs = append(certs, c)
		}
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return certs, nil
}
