//go:build linux

package java

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/java/javatest"
	gopkcs12 "software.sslmate.com/src/go-pkcs12"
)

func TestDiscover(t *testing.T) {
	root, _ := sandbox(t)
	if _, err := javatest.JDK8(root); err != nil {
		t.Fatal(err)
	}
	// a runtime alias symlink, a vendor dir under /opt, a JCEKS, garbage,
	// a dangling symlink and a runtime without cacerts
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink("java-17-openjdk-amd64", hostPath(root, "/usr/lib/jvm/java-1.17.0-openjdk-amd64")))
	jks, err := os.ReadFile(hostPath(root, "/etc/ssl/certs/java/cacerts"))
	must(err)
	must(os.MkdirAll(hostPath(root, "/opt/java/openjdk/lib/security"), 0o755))
	must(os.WriteFile(hostPath(root, "/opt/java/openjdk/lib/security/cacerts"), jks, 0o644))
	must(os.MkdirAll(hostPath(root, "/opt/jceks/lib/security"), 0o755))
	must(os.WriteFile(hostPath(root, "/opt/jceks/lib/security/cacerts"), []byte{0xce, 0xce, 0xce, 0xce, 0, 0, 0, 2}, 0o644))
	must(os.MkdirAll(hostPath(root, "/usr/java/garbage/lib/security"), 0o755))
	must(os.WriteFile(hostPath(root, "/usr/java/garbage/lib/security/cacerts"), []byte("-----BEGIN CERTIFICATE-----\n"), 0o644))
	must(os.MkdirAll(hostPath(root, "/usr/lib/jvm/broken/lib/security"), 0o755))
	must(os.Symlink("/etc/nowhere/cacerts", hostPath(root, "/usr/lib/jvm/broken/lib/security/cacerts")))
	must(os.MkdirAll(hostPath(root, "/usr/lib/jvm/empty/lib"), 0o755))
	// a macOS bundle and a Windows vendor dir, under the same root
	must(os.MkdirAll(hostPath(root, "/Library/Java/JavaVirtualMachines/zulu-21.jdk/Contents/Home/lib/security"), 0o755))
	must(os.WriteFile(hostPath(root, "/Library/Java/JavaVirtualMachines/zulu-21.jdk/Contents/Home/lib/security/cacerts"), jks, 0o644))
	must(os.MkdirAll(hostPath(root, "/Program Files/Eclipse Adoptium/jdk-21.0.1-hotspot/lib/security"), 0o755))
	must(os.WriteFile(hostPath(root, "/Program Files/Eclipse Adoptium/jdk-21.0.1-hotspot/lib/security/cacerts"), jks, 0o644))

	ss, err := Discover(context.Background(), stores.Env{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	type want struct{ format, app, note string }
	wants := map[string]want{
		"java:/etc/ssl/certs/java/cacerts":                                                      {"jks", "java-17-openjdk-amd64", ""},
		"java:/usr/lib/jvm/temurin-25-jdk-amd64/lib/security/cacerts":                           {"pkcs12", "temurin-25-jdk-amd64", ""},
		"java:/usr/lib/jvm/jdk8/jre/lib/security/cacerts":                                       {"jks", "jdk8", ""},
		"java:/opt/java/openjdk/lib/security/cacerts":                                           {"jks", "openjdk", ""},
		"java:/opt/jceks/lib/security/cacerts":                                                  {"jceks", "jceks", "JCEKS"},
		"java:/usr/java/garbage/lib/security/cacerts":                                           {"unknown", "garbage", "PEM text"},
		"java:/usr/lib/jvm/broken/lib/security/cacerts":                                         {"unknown", "broken", "dangling symlink to /etc/nowhere/cacerts"},
		"java:/Library/Java/JavaVirtualMachines/zulu-21.jdk/Contents/Home/lib/security/cacerts": {"jks", "zulu-21.jdk", ""},
		"java:/Program Files/Eclipse Adoptium/jdk-21.0.1-hotspot/lib/security/cacerts":          {"jks", "jdk-21.0.1-hotspot", ""},
	}
	got := map[string]stores.Info{}
	for _, s := range ss {
		got[s.Info().ID] = s.Info()
	}
	for id, w := range wants {
		in, ok := got[id]
		if !ok {
			t.Errorf("store %s not discovered (got %v)", id, keys(got))
			continue
		}
		if in.Format != w.format || in.App != w.app || (w.note == "") != (in.Note == "") || !strings.Contains(in.Note, w.note) {
			t.Errorf("%s: format %q app %q note %q; want %q %q note containing %q", id, in.Format, in.App, in.Note, w.format, w.app, w.note)
		}
		if in.Kind != stores.KindJava || in.Path != strings.TrimPrefix(id, "java:") {
			t.Errorf("%s: kind %q path %q", id, in.Kind, in.Path)
		}
	}
	if len(got) != len(wants) {
		t.Errorf("discovered %d stores, want %d: %v", len(got), len(wants), keys(got))
	}
	// the registered adapter finds the same
	all, errs := stores.Discover(context.Background(), stores.Env{Root: root}, []stores.Kind{stores.KindJava})
	if len(errs) > 0 || len(all) != len(wants) {
		t.Errorf("stores.Discover: %d stores, errors %v", len(all), errs)
	}
}

func keys(m map[string]stores.Info) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestListVendorAndTrust(t *testing.T) {
	root, rts := sandbox(t)
	vendor, err := javatest.VendorCerts()
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range rts {
		t.Run(rt.Format, func(t *testing.T) {
			s := openStore(t, root, rt.Cacerts, nil)
			if s.Info().Path != rt.Store || s.Info().Format != rt.Format {
				t.Fatalf("info %+v, want path %s format %s", s.Info(), rt.Store, rt.Format)
			}
			as, err := s.List(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(as) != len(vendor) {
				t.Errorf("%d anchors, want %d", len(as), len(vendor))
			}
			nv := 0
			for _, a := range as {
				want := strings.HasPrefix(a.Label, "debian:") || strings.HasSuffix(a.Label, " [jdk]")
				if !a.TrustedServerAuth || a.Vendor != want || a.Cert == nil || a.Label == "" {
					t.Fatalf("anchor %+v: want trusted, labelled, vendor %v", a, want)
				}
				if a.Vendor {
					nv++
				}
			}
			if nv < len(as)/2 {
				t.Errorf("only %d of %d anchors are vendor", nv, len(as))
			}
		})
	}
}

// TestInstallRemove covers JKS, password-less PKCS12 and PKCS12 with a
// password: install is idempotent, other entries stay, remove takes it out.
func TestInstallRemove(t *testing.T) {
	root, rts := sandbox(t)
	ca := testpki.NewCA(t, "Anchorwatch Install CA")
	// a PKCS12 with a password, as keytool writes trust stores
	p12pw := "/opt/app/truststore.p12"
	vendor, _ := javatest.VendorCerts()
	data, err := encodeTestP12(vendor[:3], "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	writeHost(t, hostPath(root, p12pw), data)
	cases := []struct {
		path string
		pw   map[string]string
	}{
		{rts[0].Cacerts, nil},
		{rts[1].Cacerts, nil},
		{p12pw, map[string]string{p12pw: "s3cret"}},
	}
	for _, c := range cases {
		t.Run(path.Base(path.Dir(path.Dir(path.Dir(c.path))))+"-"+path.Base(c.path), func(t *testing.T) {
			s := openStore(t, root, c.path, c.pw)
			before, err := s.List(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			dry, err := s.Install(context.Background(), []*x509.Certificate{ca.Cert}, stores.Options{DryRun: true})
			if err != nil || actions(dry) != "added" {
				t.Fatalf("dry run: %v %v", dry, err)
			}
			if as, _ := s.List(context.Background()); len(as) != len(before) {
				t.Fatal("dry run changed the store")
			}
			ch, err := s.Install(context.Background(), []*x509.Certificate{ca.Cert}, stores.Options{})
			if err != nil || actions(ch) != "added" {
				t.Fatalf("install: %v %v", ch, err)
			}
			after, err := s.List(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			a, ok := findAnchor(after, ca.Cert)
			if !ok || !a.TrustedServerAuth || a.Vendor || a.Label != stores.Label(ca.Cert) {
				t.Fatalf("installed anchor %+v (found %v)", a, ok)
			}
			if len(after) != len(before)+1 {
				t.Fatalf("%d anchors after install, want %d", len(after), len(before)+1)
			}
			sameEntries(t, before, after)
			sum := fileSum(t, hostPath(root, s.Info().Path))
			ch, err = s.Install(context.Background(), []*x509.Certificate{ca.Cert}, stores.Options{})
			if err != nil || actions(ch) != "unchanged" || fileSum(t, hostPath(root, s.Info().Path)) != sum {
				t.Fatalf("second install: %v %v (or file rewritten)", ch, err)
			}
			ch, err = s.Remove(context.Background(), []string{strings.ToUpper(stores.SHA256(ca.Cert))}, stores.Options{})
			if err != nil || actions(ch) != "removed" {
				t.Fatalf("remove: %v %v", ch, err)
			}
			final, _ := s.List(context.Background())
			if _, ok := findAnchor(final, ca.Cert); ok || len(final) != len(before) {
				t.Fatalf("after remove: %d anchors, CA still there: %v", len(final), ok)
			}
			ch, err = s.Remove(context.Background(), []string{stores.SHA256(ca.Cert)}, stores.Options{})
			if err != nil || actions(ch) != "unchanged" {
				t.Fatalf("second remove: %v %v", ch, err)
			}
		})
	}
}

func writeHost(t testing.TB, hp string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(path.Dir(hp), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hp, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestKeepsModeOwnerAndDates(t *testing.T) {
	root, rts := sandbox(t)
	hp := hostPath(root, rts[0].Store)
	if err := os.Chmod(hp, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(hp, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, root, rts[0].Cacerts, nil)
	before, _ := s.List(context.Background())
	kfBefore, err := s.load()
	if err != nil {
		t.Fatal(err)
	}
	ca := testpki.NewCA(t, "Mode CA")
	if _, err := s.Install(context.Background(), []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(hp)
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := ownerOf(fi)
	if fi.Mode().Perm() != 0o640 || uid != 1234 || gid != 5678 {
		t.Errorf("mode %v owner %d:%d, want 0640 1234:5678", fi.Mode().Perm(), uid, gid)
	}
	kf, err := s.load()
	if err != nil {
		t.Fatal(err)
	}
	created := map[string]time.Time{}
	for _, e := range kf.entries {
		created[e.alias] = e.created
	}
	for _, e := range kfBefore.entries {
		if c, ok := created[e.alias]; !ok || !c.Equal(e.created) {
			t.Fatalf("entry %q created %v: now %v (present %v)", e.alias, e.created, c, ok)
		}
	}
	if len(before)+1 != len(kf.anchors()) {
		t.Fatal("entry count")
	}
}

func ownerOf(fi os.FileInfo) (uid, gid int) {
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

func encodeTestP12(certs []javatest.VendorCert, password string) ([]byte, error) {
	var es []gopkcs12.TrustStoreEntry
	for _, c := range certs {
		es = append(es, gopkcs12.TrustStoreEntry{Cert: c.Cert, FriendlyName: c.Alias})
	}
	return gopkcs12.Modern2023.EncodeTrustStoreEntries(es, password)
}

// TestBadStores: every failure is a precise error and leaves the file
// byte-identical.
func TestBadStores(t *testing.T) {
	root, rts := sandbox(t)
	jks, _ := os.ReadFile(hostPath(root, rts[0].Store))
	p12, _ := os.ReadFile(hostPath(root, rts[1].Store))
	vendor, _ := javatest.VendorCerts()
	p12pw, _ := encodeTestP12(vendor[:2], "s3cret")
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 0x40
		return c
	}
	cases := []struct {
		name string
		data []byte
		pw   string
		want string
	}{
		{"jks-truncated", jks[:len(jks)/2], "", "corrupt JKS keystore: entry"},
		{"jks-no-digest", jks[:len(jks)-20], "", "integrity digest missing"},
		{"jks-flipped-cert-byte", flip(jks, len(jks)/2), "", "wrong password (integrity check failed): give its password in the policy's java_passwords (the agent), or with --java-password-file (a command run by hand)"},
		{"jks-trailing-garbage", append(append([]byte(nil), jks...), 1, 2, 3), "", "trailing garbage"},
		{"jks-wrong-password", jks, "nope123", "java keystore /ks: wrong password (integrity check failed): give its password in the policy's java_passwords (the agent), or with --java-password-file (a command run by hand)"},
		{"jks-huge-count", append([]byte{0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2, 0x7f, 0xff, 0xff, 0xff}, jks[12:100]...), "", "header claims 2147483647 entries"},
		{"p12-truncated", p12[:len(p12)-100], "", "truncated DER SEQUENCE"},
		{"p12-corrupt-inside", flip(p12, 40), "", "corrupt PKCS12 keystore"},
		{"p12-wrong-password", p12pw, "nope123", "wrong password (integrity check failed): give its password in the policy's java_passwords (the agent), or with --java-password-file (a command run by hand)"},
		{"p12-default-password-wrong", p12pw, "", "wrong password"},
		{"jceks", []byte{0xce, 0xce, 0xce, 0xce, 0, 0, 0, 2, 0, 0, 0, 0}, "", "JCEKS keystore: not supported"},
		{"empty", nil, "", "an empty file"},
		{"pem", []byte("-----BEGIN CERTIFICATE-----\nMII=\n"), "", "PEM text"},
	}
	ca := testpki.NewCA(t, "Bad CA")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hp := hostPath(root, "/ks")
			writeHost(t, hp, c.data)
			var pw map[string]string
			if c.pw != "" {
				pw = map[string]string{"/ks": c.pw}
			}
			s := openStore(t, root, "/ks", pw)
			sum := fileSum(t, hp)
			res := stores.Audit(context.Background(), s, []*x509.Certificate{ca.Cert})
			if res.Status != stores.StatusError || !strings.Contains(res.Detail, c.want) {
				t.Errorf("audit: %s %q, want error containing %q", res.Status, res.Detail, c.want)
			}
			if _, err := s.Install(context.Background(), []*x509.Certificate{ca.Cert}, stores.Options{}); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("install: %v, want error containing %q", err, c.want)
			}
			if _, err := s.Remove(context.Background(), []string{stores.SHA256(vendor[0].Cert)}, stores.Options{}); err == nil {
				t.Error("remove succeeded")
			}
			if fileSum(t, hp) != sum {
				t.Error("store changed")
			}
		})
	}
}

// TestPKCS12WithKeyIsNotRewritten: entries go-pkcs12 cannot write back are
// listed, and a write is refused rather than dropping them.
func TestPKCS12WithKeyIsNotRewritten(t *testing.T) {
	root := t.TempDir()
	ca := testpki.NewCA(t, "Key CA")
	other := testpki.NewCA(t, "Other CA")
	leaf := ca.Leaf(t, "127.0.0.1")
	data, err := gopkcs12.Modern2023.Encode(leaf.PrivateKey, leaf.Leaf, []*x509.Certificate{ca.Cert}, "changeit")
	if err != nil {
		t.Fatal(err)
	}
	hp := hostPath(root, "/opt/app/keystore.p12")
	writeHost(t, hp, data)
	s := openStore(t, root, "/opt/app/keystore.p12", nil)
	as, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 2 || as[0].TrustedServerAuth || as[1].TrustedServerAuth {
		t.Fatalf("anchors %+v: want 2 untrusted (plain cert bags)", as)
	}
	res := stores.Audit(context.Background(), s, []*x509.Certificate{ca.Cert})
	if res.Status != stores.StatusUntrusted {
		t.Errorf("audit %s %s, want untrusted", res.Status, res.Detail)
	}
	sum := fileSum(t, hp)
	_, err = s.Install(context.Background(), []*x509.Certificate{other.Cert}, stores.Options{})
	if err == nil || !errors.Is(err, stores.ErrNotSupported) || !strings.Contains(err.Error(), "without losing entry") {
		t.Fatalf("install: %v", err)
	}
	if fileSum(t, hp) != sum {
		t.Fatal("store changed")
	}
}

// sameEntries checks that every anchor of before is in after with the same
// label and trust.
func sameEntries(t testing.TB, before, after []stores.Anchor) {
	t.Helper()
	idx := map[string]stores.Anchor{}
	for _, a := range after {
		idx[a.Label+"/"+a.SHA256] = a
	}
	for _, b := range before {
		a, ok := idx[b.Label+"/"+b.SHA256]
		if !ok || a.TrustedServerAuth != b.TrustedServerAuth || a.Vendor != b.Vendor {
			t.Fatalf("entry %q (%s) lost or changed: %+v", b.Label, b.SHA256[:16], a)
		}
	}
}

// TestRC2TrustStore: a JDK 8-era PKCS12 whose certificates are RC2
// encrypted is listed (through go-pkcs12) but never rewritten.
func TestRC2TrustStore(t *testing.T) {
	root := t.TempDir()
	ca := testpki.NewCA(t, "RC2 CA")
	data, err := gopkcs12.LegacyRC2.EncodeTrustStoreEntries([]gopkcs12.TrustStoreEntry{{Cert: ca.Cert, FriendlyName: "old"}}, "changeit")
	if err != nil {
		t.Fatal(err)
	}
	hp := hostPath(root, "/opt/jre8/lib/security/cacerts")
	writeHost(t, hp, data)
	s := openStore(t, root, "/opt/jre8/lib/security/cacerts", nil)
	if r := stores.Audit(context.Background(), s, []*x509.Certificate{ca.Cert}); r.Status != stores.StatusCompliant {
		t.Fatalf("audit %s %s", r.Status, r.Detail)
	}
	sum := fileSum(t, hp)
	_, err = s.Remove(context.Background(), []string{stores.SHA256(ca.Cert)}, stores.Options{})
	if err == nil || !strings.Contains(err.Error(), "RC2-encrypted") || fileSum(t, hp) != sum {
		t.Fatalf("remove: %v", err)
	}
}
