//go:build linux

package java

import (
	"context"
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

// TestKeytoolReadsOurWrites: after our Install, keytool 17 and 25 list the
// CA as a trustedCertEntry in JKS, password-less PKCS12 and PKCS12 with a
// password; after Remove they no longer do.
func TestKeytoolReadsOurWrites(t *testing.T) {
	for _, major := range []int{17, 25} {
		j := jdk(t, major)
		t.Run(filepath.Base(j.Home), func(t *testing.T) {
			root, rts := sandbox(t)
			vendor := mustVendor(t)
			p12, err := encodeTestP12(vendor[:5], "s3cret")
			if err != nil {
				t.Fatal(err)
			}
			writeHost(t, hostPath(root, "/opt/app/trust.p12"), p12)
			ca := testpki.NewCA(t, "Keytool Round Trip CA")
			for _, c := range []struct {
				path, storetype, pw string
			}{
				{rts[0].Cacerts, "JKS", "changeit"},
				{rts[1].Cacerts, "PKCS12", ""},
				{"/opt/app/trust.p12", "PKCS12", "s3cret"},
			} {
				s := openStore(t, root, c.path, map[string]string{"/opt/app/trust.p12": "s3cret"})
				if _, err := s.Install(context.Background(), []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil {
					t.Fatal(err)
				}
				hp := hostPath(root, s.Info().Path)
				out := keytoolList(t, j, hp, c.storetype, c.pw)
				if !containsEntry(out, stores.Label(ca.Cert), "trustedCertEntry") {
					t.Fatalf("keytool %d does not list %s in %s:\n%s", major, stores.Label(ca.Cert), c.path, out)
				}
				if n := strings.Count(out, "trustedCertEntry"); n < 5 {
					t.Fatalf("keytool %d lists %d trusted entries in %s", major, n, c.path)
				}
				if _, err := s.Remove(context.Background(), []string{stores.SHA256(ca.Cert)}, stores.Options{}); err != nil {
					t.Fatal(err)
				}
				out = keytoolList(t, j, hp, c.storetype, c.pw)
				if strings.Contains(out, stores.Label(ca.Cert)) {
					t.Fatalf("keytool %d still lists %s after remove", major, stores.Label(ca.Cert))
				}
			}
		})
	}
}

// containsEntry reports whether keytool -list output has "alias, date,
// kind" for alias.
func containsEntry(out, alias, kind string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, alias+",") && strings.HasSuffix(strings.TrimSpace(l), kind+",") {
			return true
		}
	}
	return false
}

// TestWeReadKeytoolWrites: stores keytool 17 and 25 wrote (JKS with a
// private key entry, PKCS12 with the default protection, password-less
// PKCS12, PKCS12 with a key) are audited correctly, and a JKS keeps its
// private key usable through our install.
func TestWeReadKeytoolWrites(t *testing.T) {
	for _, major := range []int{17, 25} {
		j := jdk(t, major)
		t.Run(filepath.Base(j.Home), func(t *testing.T) {
			root := t.TempDir()
			ca := testpki.NewCA(t, "Keytool Written CA")
			other := testpki.NewCA(t, "Second CA")
			caFile := testpki.WritePEM(t, filepath.Join(root, stores.Label(ca.Cert)+".pem"), ca.Cert)
			kt := func(args ...string) {
				t.Helper()
				if out, err := keytool(t, j, args...); err != nil {
					t.Fatalf("keytool %v: %v\n%s", args, err, out)
				}
			}
			dir := filepath.Join(root, "opt", "app")
			writeHost(t, filepath.Join(dir, "placeholder"), nil)
			jks := filepath.Join(dir, "k.jks")
			kt("-genkeypair", "-alias", "server", "-keyalg", "EC", "-dname", "CN=server", "-keystore", jks, "-storetype", "JKS", "-storepass", "changeit", "-keypass", "changeit")
			kt("-importcert", "-noprompt", "-alias", "corp-ca", "-file", caFile, "-keystore", jks, "-storetype", "JKS", "-storepass", "changeit")
			p12 := filepath.Join(dir, "k.p12")
			kt("-importcert", "-noprompt", "-alias", "corp-ca", "-file", caFile, "-keystore", p12, "-storetype", "PKCS12", "-storepass", "pw-123456")
			nopw := filepath.Join(dir, "nopw.p12")
			kt("-J-Dkeystore.pkcs12.certProtectionAlgorithm=NONE", "-J-Dkeystore.pkcs12.macAlgorithm=NONE",
				"-importcert", "-noprompt", "-alias", "corp-ca [jdk]", "-file", caFile, "-keystore", nopw, "-storetype", "PKCS12", "-storepass", "changeit")
			keyp12 := filepath.Join(dir, "key.p12")
			kt("-genkeypair", "-alias", "server", "-keyalg", "EC", "-dname", "CN=server", "-keystore", keyp12, "-storetype", "PKCS12", "-storepass", "changeit")
			kt("-importcert", "-noprompt", "-alias", "corp-ca", "-file", caFile, "-keystore", keyp12, "-storetype", "PKCS12", "-storepass", "changeit")

			env := stores.Env{Root: root, JavaPasswords: map[string]string{"/opt/app/k.p12": "pw-123456"}}
			for _, c := range []struct {
				file, format string
				anchors      int
				vendor       bool
			}{
				{"k.jks", "jks", 2, false},
				{"k.p12", "pkcs12", 1, false},
				{"nopw.p12", "pkcs12", 1, true},
				{"key.p12", "pkcs12", 2, false},
			} {
				s, err := Open(env, "/opt/app/"+c.file)
				if err != nil {
					t.Fatal(err)
				}
				res := stores.Audit(context.Background(), s, []*x509.Certificate{ca.Cert})
				if res.Status != stores.StatusCompliant || s.Info().Format != c.format {
					t.Errorf("%s: %s %q format %s", c.file, res.Status, res.Detail, s.Info().Format)
					continue
				}
				a, _ := findAnchor(res.Anchors, ca.Cert)
				if len(res.Anchors) != c.anchors || a.Vendor != c.vendor || !strings.HasPrefix(a.Label, "corp-ca") {
					t.Errorf("%s: %d anchors, CA %+v", c.file, len(res.Anchors), a)
				}
				// keytool's trusted entries trust for everything and
				// nothing narrows them: compliant, never overtrusted, and
				// the detail says so.
				if stores.JoinPurposes(res.Purposes[stores.SHA256(ca.Cert)]) != "any" || !strings.Contains(res.Detail, "cannot restrict purposes") {
					t.Errorf("%s: purposes %v, detail %q", c.file, res.Purposes, res.Detail)
				}
			}
			// the JKS with a private key: install keeps the key usable
			s, _ := Open(env, "/opt/app/k.jks")
			s.settle = 0
			if _, err := s.Install(context.Background(), []*x509.Certificate{other.Cert}, stores.Options{}); err != nil {
				t.Fatal(err)
			}
			out := keytoolList(t, j, jks, "JKS", "changeit")
			if !containsEntry(out, "server", "PrivateKeyEntry") || !containsEntry(out, "corp-ca", "trustedCertEntry") || !containsEntry(out, stores.Label(other.Cert), "trustedCertEntry") {
				t.Fatalf("after install:\n%s", out)
			}
			kt("-certreq", "-alias", "server", "-keystore", jks, "-storepass", "changeit", "-keypass", "changeit", "-file", filepath.Join(root, "req.csr"))
			// the PKCS12 with a key is not rewritten
			s, _ = Open(env, "/opt/app/key.p12")
			if _, err := s.Install(context.Background(), []*x509.Certificate{other.Cert}, stores.Options{}); err == nil {
				t.Error("install into a PKCS12 with a private key succeeded")
			}
		})
	}
}
