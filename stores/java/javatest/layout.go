package javatest

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/pavlo-v-chernykh/keystore-go/v4"
	gopkcs12 "software.sslmate.com/src/go-pkcs12"
)

// Host files the layouts copy from when present.
const (
	HostDebianCacerts = "/etc/ssl/certs/java/cacerts"
	HostBundle        = "/etc/ssl/certs/ca-certificates.crt"
	HostJDK25Cacerts  = "/usr/lib/jvm/temurin-25-jdk-amd64/lib/security/cacerts"
)

// Runtime is a Java runtime laid out under a root.
type Runtime struct {
	Name    string // directory under /usr/lib/jvm
	Cacerts string // its lib/security/cacerts, inside the root
	Store   string // the keystore file that path resolves to, inside the root
	Format  string // "jks" or "pkcs12"
}

// VendorCert is a certificate with the Debian-style alias it is stored
// under.
type VendorCert struct {
	Alias string // "debian:digicert_global_root_ca.pem"
	Cert  *x509.Certificate
}

// VendorCerts returns the CA certificates a distribution's Java store
// holds: those of the host's Debian JKS when there is one, else those of
// the host's PEM bundle.
func VendorCerts() ([]VendorCert, error) {
	if data, err := os.ReadFile(HostDebianCacerts); err == nil {
		ks := keystore.New(keystore.WithOrderedAliases(), keystore.WithCaseExactAliases())
		if err := ks.Load(bytes.NewReader(data), []byte("changeit")); err == nil {
			var out []VendorCert
			for _, a := range ks.Aliases() {
				e, err := ks.GetTrustedCertificateEntry(a)
				if err != nil {
					continue
				}
				c, err := x509.ParseCertificate(e.Certificate.Content)
				if err != nil {
					continue
				}
				out = append(out, VendorCert{Alias: a, Cert: c})
			}
			if len(out) > 0 {
				return out, nil
			}
		}
	}
	data, err := os.ReadFile(HostBundle)
	if err != nil {
		return nil, fmt.Errorf("no CA certificates on this host (%s, %s): install ca-certificates-java: %w", HostDebianCacerts, HostBundle, err)
	}
	var out []VendorCert
	for len(data) > 0 {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			continue
		}
		name := strings.ToLower(strings.ReplaceAll(c.Subject.CommonName, " ", "_"))
		out = append(out, VendorCert{Alias: fmt.Sprintf("debian:%s_%d.pem", name, len(out)), Cert: c})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no certificates in %s", HostBundle)
	}
	return out, nil
}

// JKS encodes certs as a JKS keystore under their aliases.
func JKS(certs []VendorCert, password string) ([]byte, error) {
	ks := keystore.New(keystore.WithOrderedAliases(), keystore.WithCaseExactAliases())
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, vc := range certs {
		err := ks.SetTrustedCertificateEntry(vc.Alias, keystore.TrustedCertificateEntry{
			CreationTime: created,
			Certificate:  keystore.Certificate{Type: "X.509", Content: vc.Cert.Raw},
		})
		if err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if err := ks.Store(&buf, []byte(password)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// JDKAlias turns a Debian alias into a JDK cacerts one:
// "debian:digicert_global_root_ca.pem" -> "digicertglobalrootca [jdk]".
func JDKAlias(debian string) string {
	s := strings.TrimSuffix(strings.TrimPrefix(strings.ToLower(debian), "debian:"), ".pem")
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String() + " [jdk]"
}

// PasswordlessPKCS12 encodes certs as a JDK ≥ 18 style password-less
// PKCS12 trust store with JDK aliases.
func PasswordlessPKCS12(certs []VendorCert) ([]byte, error) {
	var entries []gopkcs12.TrustStoreEntry
	seen := map[string]bool{}
	for _, vc := range certs {
		a := JDKAlias(vc.Alias)
		for i := 2; seen[a]; i++ {
			a = fmt.Sprintf("%s%d [jdk]", strings.TrimSuffix(JDKAlias(vc.Alias), " [jdk]"), i)
		}
		seen[a] = true
		entries = append(entries, gopkcs12.TrustStoreEntry{Cert: vc.Cert, FriendlyName: a})
	}
	return gopkcs12.Passwordless.EncodeTrustStoreEntries(entries, "")
}

func writeFile(root, p string, data []byte) error {
	hp := filepath.Join(root, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		return err
	}
	return os.WriteFile(hp, data, 0o644)
}

func symlink(root, p, target string) error {
	hp := filepath.Join(root, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		return err
	}
	return os.Symlink(target, hp)
}

// DebianJDK17 lays out Debian's OpenJDK 17: the shared JKS
// /etc/ssl/certs/java/cacerts and the JDK's symlink to it.
func DebianJDK17(root string) (Runtime, error) {
	const store = "/etc/ssl/certs/java/cacerts"
	if _, err := os.Lstat(filepath.Join(root, store)); errors.Is(err, os.ErrNotExist) {
		data, err := os.ReadFile(HostDebianCacerts)
		if err != nil || len(data) < 4 || !bytes.Equal(data[:4], []byte{0xfe, 0xed, 0xfe, 0xed}) {
			certs, verr := VendorCerts()
			if verr != nil {
				return Runtime{}, verr
			}
			if data, err = JKS(certs, "changeit"); err != nil {
				return Runtime{}, err
			}
		}
		if err := writeFile(root, store, data); err != nil {
			return Runtime{}, err
		}
	}
	rt := Runtime{Name: "java-17-openjdk-amd64", Store: store, Format: "jks"}
	rt.Cacerts = path.Join("/usr/lib/jvm", rt.Name, "lib/security/cacerts")
	return rt, symlink(root, rt.Cacerts, store)
}

// JDK25 lays out a Temurin 25 with its own password-less PKCS12 cacerts.
func JDK25(root string) (Runtime, error) {
	rt := Runtime{Name: "temurin-25-jdk-amd64", Format: "pkcs12"}
	rt.Cacerts = path.Join("/usr/lib/jvm", rt.Name, "lib/security/cacerts")
	rt.Store = rt.Cacerts
	data, err := os.ReadFile(HostJDK25Cacerts)
	if err != nil || len(data) == 0 || data[0] != 0x30 {
		certs, verr := VendorCerts()
		if verr != nil {
			return Runtime{}, verr
		}
		if data, err = PasswordlessPKCS12(certs); err != nil {
			return Runtime{}, err
		}
	}
	return rt, writeFile(root, rt.Store, data)
}

// JDK8 lays out a JDK 8 with its own JKS cacerts in jre/lib/security.
func JDK8(root string) (Runtime, error) {
	rt := Runtime{Name: "jdk8", Format: "jks"}
	rt.Cacerts = path.Join("/usr/lib/jvm", rt.Name, "jre/lib/security/cacerts")
	rt.Store = rt.Cacerts
	certs, err := VendorCerts()
	if err != nil {
		return Runtime{}, err
	}
	data, err := JKS(certs, "changeit")
	if err != nil {
		return Runtime{}, err
	}
	return rt, writeFile(root, rt.Store, data)
}

// Standard lays out DebianJDK17 and JDK25 under root.
func Standard(root string) ([]Runtime, error) {
	a, err := DebianJDK17(root)
	if err != nil {
		return nil, err
	}
	b, err := JDK25(root)
	if err != nil {
		return nil, err
	}
	return []Runtime{a, b}, nil
}
