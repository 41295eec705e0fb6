//go:build linux

package system_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/system/systemtest"
)

// Debian's distrust record is the distribution tool's own: the
// certificate under /usr/share/ca-certificates/anchorwatch-distrusted,
// deselected with a "!" line in ca-certificates.conf; a shipped CA is
// deselected where it is selected. The real update-ca-certificates
// leaves both out of the bundle and OpenSSL refuses their leaves. A copy
// a user drops back into /usr/local/share/ca-certificates is trusted by
// the tool again (it has no blocklist): audit shows it and Distrust
// takes it out again.
func TestDebianDistrust(t *testing.T) {
	ctx := context.Background()
	root, s := debianStore(t)
	bundle := filepath.Join(root, systemtest.DebianBundle)
	ca, key := systemtest.CA(t, "Leaked Debian CA")
	leaf := systemtest.Leaf(t, ca, key, "x.example")
	if _, err := s.Install(ctx, []*x509.Certificate{ca}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	vendor := vendorCA(t, root)
	ch, err := s.Distrust(ctx, []*x509.Certificate{ca, vendor}, stores.Options{})
	if err != nil || len(ch) != 2 || ch[0].Action != stores.ActionDistrusted || ch[1].Action != stores.ActionDistrusted {
		t.Fatalf("distrust: %v %v", ch, err)
	}
	conf := readFile(t, filepath.Join(root, systemtest.DebianCertsConf))
	rec := "!anchorwatch-distrusted/" + stores.Label(ca) + ".crt"
	if !strings.Contains(conf, "\n"+rec+"\n") {
		t.Fatalf("ca-certificates.conf lacks %q", rec)
	}
	if err := systemtest.Verify(bundle, leaf); err == nil {
		t.Fatal("after distrust OpenSSL accepts the leaf")
	}
	if strings.Contains(readFile(t, bundle), pemLine(vendor)) {
		t.Fatal("the shipped CA is still in the bundle")
	}
	// The real tool, run by hand, keeps both out.
	systemtest.Refresh(t, root)
	if err := systemtest.Verify(bundle, leaf); err == nil {
		t.Fatal("after update-ca-certificates OpenSSL accepts the leaf")
	}
	dis, err := s.Distrusted(ctx)
	if err != nil || !hasAnchor(dis, ca) || !hasAnchor(dis, vendor) {
		t.Fatalf("Distrusted: %v %v", dis, err)
	}
	if ch, _ := s.Distrust(ctx, []*x509.Certificate{ca}, stores.Options{}); ch[0].Action != stores.ActionUnchanged {
		t.Errorf("second distrust: %v", ch)
	}

	// A user's copy comes back.
	back := filepath.Join(root, systemtest.DebianAnchorsDir, "back.crt")
	if err := os.WriteFile(back, systemtest.PEM(ca), 0o644); err != nil {
		t.Fatal(err)
	}
	systemtest.Refresh(t, root)
	if err := systemtest.Verify(bundle, leaf); err != nil {
		t.Fatalf("Debian's tool trusts a local copy whatever the conf says; here: %v", err)
	}
	if ch, err := s.Distrust(ctx, []*x509.Certificate{ca}, stores.Options{}); err != nil || ch[0].Action != stores.ActionDistrusted {
		t.Fatalf("distrust of the copy back: %v %v", ch, err)
	}
	if _, err := os.Stat(back); !os.IsNotExist(err) {
		t.Fatal("the copy is still there")
	}
	if err := systemtest.Verify(bundle, leaf); err == nil {
		t.Fatal("after the second distrust OpenSSL accepts the leaf")
	}

	// Undistrust takes our record out and trusts nothing anew: the
	// shipped CA stays deselected.
	ch, err = s.Undistrust(ctx, []string{stores.SHA256(ca), stores.SHA256(vendor)}, stores.Options{})
	if err != nil || ch[0].Action != stores.ActionUndistrusted || ch[1].Action != stores.ActionUnchanged {
		t.Fatalf("undistrust: %v %v", ch, err)
	}
	if strings.Contains(readFile(t, filepath.Join(root, systemtest.DebianCertsConf)), rec) {
		t.Fatal("our line is still in ca-certificates.conf")
	}
	if _, err := os.Stat(filepath.Join(root, systemtest.DebianCertsDir, "anchorwatch-distrusted", stores.Label(ca)+".crt")); !os.IsNotExist(err) {
		t.Fatal("our record file is still there")
	}
	if err := systemtest.Verify(bundle, leaf); err == nil {
		t.Fatal("undistrust made the CA trusted")
	}
	if strings.Contains(readFile(t, bundle), pemLine(vendor)) {
		t.Fatal("undistrust put the shipped CA back")
	}
}

// vendorCA returns a CA of the Mozilla set the root selects.
func vendorCA(t *testing.T, root string) *x509.Certificate {
	t.Helper()
	dir := filepath.Join(root, systemtest.DebianCertsDir, "mozilla")
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) == 0 {
		t.Fatalf("no shipped CA in %s: %v", dir, err)
	}
	c, err := x509.ParseCertificate(pemBlock(t, readFile(t, filepath.Join(dir, ents[0].Name()))))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func hasAnchor(as []stores.Anchor, c *x509.Certificate) bool {
	for _, a := range as {
		if a.SHA256 == stores.SHA256(c) {
			return true
		}
	}
	return false
}

// pemLine is a line of c's PEM that identifies it in a bundle.
func pemLine(c *x509.Certificate) string {
	return strings.Split(string(systemtest.PEM(c)), "\n")[3]
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func pemBlock(t *testing.T, s string) []byte {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatal("not PEM")
	}
	return b.Bytes
}
