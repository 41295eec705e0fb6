//go:build linux

package system_test

import (
	"context"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/system"
	"github.com/anchorwatch/anchorwatch/stores/system/systemtest"
)

// p11kitStore builds a RHEL root refreshed by the real p11-kit.
func p11kitStore(t *testing.T) (string, *system.Store) {
	t.Helper()
	root := t.TempDir()
	systemtest.P11KitRoot(t, root)
	s, err := system.Open(stores.Env{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if s.Family().Name != "rhel" {
		t.Fatalf("family %s", s.Family().Name)
	}
	return root, s
}

// listed returns the labels `trust list` shows for a filter and purpose.
func listed(t *testing.T, root, filter, purpose string) string {
	t.Helper()
	args := []string{"list", "--filter=" + filter}
	if purpose != "" {
		args = append(args, "--purpose="+purpose)
	}
	return systemtest.Trust(t, root, args...)
}

// verify runs openssl verify with purpose against a CAfile; nil when
// OpenSSL accepts the leaf.
func verify(t *testing.T, cafile, purpose string, leafPEM []byte) error {
	t.Helper()
	leaf := filepath.Join(t.TempDir(), "leaf.pem")
	if err := os.WriteFile(leaf, leafPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "verify", "-CAfile", cafile, "-purpose", purpose, leaf).CombinedOutput()
	if err != nil {
		return &verifyError{string(out)}
	}
	return nil
}

type verifyError struct{ out string }

func (e *verifyError) Error() string { return strings.TrimSpace(e.out) }

// The RHEL anchor is trusted for TLS server authentication only, as the
// real p11-kit reads it: `trust list --purpose` names it for server-auth
// and not for email or code-signing, the extracted e-mail and
// code-signing bundles leave it out, and OpenSSL on the extracted trust
// bundle accepts a leaf for sslserver and rejects the CA itself (depth
// 1) for smimesign. An administrator's plain anchor, for contrast, is
// trusted for everything, and audit says so.
func TestP11KitServerAuthOnly(t *testing.T) {
	ctx := context.Background()
	root, s := p11kitStore(t)
	ca := testpki.NewCA(t, "Anchorwatch RHEL CA")
	// A leaf with no extended key usage: only the CA's trust can refuse
	// it for S/MIME.
	leaf := testpki.PEM(ca.Leaf(t, "mail.example").Leaf)
	ch, err := s.Install(ctx, []*x509.Certificate{ca.Cert}, stores.Options{})
	if err != nil || ch[0].Action != stores.ActionAdded {
		t.Fatalf("install: %v %v", ch, err)
	}
	label := stores.Label(ca.Cert)
	for purpose, want := range map[string]bool{"server-auth": true, "email": false, "code-signing": false} {
		if got := strings.Contains(listed(t, root, "ca-anchors", purpose), label); got != want {
			t.Errorf("trust list --purpose=%s names the CA: %v, want %v", purpose, got, want)
		}
	}
	for bundle, want := range map[string]bool{systemtest.RHELTLSBundle: true, systemtest.RHELEmail: false, systemtest.RHELObjSign: false} {
		b, err := os.ReadFile(filepath.Join(root, bundle))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(b), strings.TrimSpace(strings.Split(string(testpki.PEM(ca.Cert)), "\n")[1])); got != want {
			t.Errorf("%s holds the CA: %v, want %v", bundle, got, want)
		}
	}
	trustBundle := filepath.Join(root, systemtest.RHELTrustBundle)
	if err := verify(t, trustBundle, "sslserver", leaf); err != nil {
		t.Errorf("openssl verify -purpose sslserver: %v", err)
	}
	if err := verify(t, trustBundle, "smimesign", leaf); err == nil || !strings.Contains(err.Error(), "at 1 depth") {
		t.Errorf("openssl verify -purpose smimesign: %v, want the CA rejected at depth 1", err)
	}
	r := stores.Audit(ctx, s, []*x509.Certificate{ca.Cert})
	if r.Status != stores.StatusCompliant || stores.JoinPurposes(r.Purposes[stores.SHA256(ca.Cert)]) != "serverAuth" {
		t.Fatalf("audit: %s (%s) purposes %v", r.Status, r.Detail, r.Purposes)
	}

	admin := testpki.NewCA(t, "Administrator's RHEL CA")
	testpki.WritePEM(t, filepath.Join(root, systemtest.RHELAnchorsDir, "admin.pem"), admin.Cert)
	systemtest.Trust(t, root, "/usr/bin/update-ca-trust")
	if !strings.Contains(listed(t, root, "ca-anchors", "email"), "Administrator's RHEL CA") {
		t.Fatal("p11-kit does not trust a plain anchor for e-mail: the contrast proves nothing")
	}
	if r := stores.Audit(ctx, s, []*x509.Certificate{admin.Cert}); r.Status != stores.StatusOvertrusted {
		t.Errorf("audit of a plain anchor: %s (%s), want overtrusted", r.Status, r.Detail)
	}
}

// Distrust writes a p11-kit blocklist file: p11-kit lists the CA as
// distrusted and leaves it out of the TLS bundle, also when a copy is
// added back to the anchors; undistrust takes the file out again.
func TestP11KitDistrust(t *testing.T) {
	ctx := context.Background()
	root, s := p11kitStore(t)
	ca := testpki.NewCA(t, "Leaked RHEL CA")
	leaf := testpki.PEM(ca.Leaf(t, "x.example").Leaf)
	if _, err := s.Install(ctx, []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	ch, err := s.Distrust(ctx, []*x509.Certificate{ca.Cert}, stores.Options{})
	if err != nil || ch[0].Action != stores.ActionDistrusted {
		t.Fatalf("distrust: %v %v", ch, err)
	}
	if !strings.Contains(listed(t, root, "blocklist", ""), "Leaked RHEL CA") {
		t.Fatal("trust list --filter=blocklist does not name the CA")
	}
	tls := filepath.Join(root, systemtest.RHELTLSBundle)
	if err := verify(t, tls, "sslserver", leaf); err == nil {
		t.Fatal("after distrust OpenSSL accepts the leaf")
	}
	// A copy added back as an anchor stays refused.
	testpki.WritePEM(t, filepath.Join(root, systemtest.RHELAnchorsDir, "back.pem"), ca.Cert)
	systemtest.Trust(t, root, "/usr/bin/update-ca-trust")
	if err := verify(t, tls, "sslserver", leaf); err == nil {
		t.Fatal("a copy added back beats the blocklist")
	}
	dis, err := s.Distrusted(ctx)
	if err != nil || len(dis) != 1 || dis[0].SHA256 != stores.SHA256(ca.Cert) {
		t.Fatalf("Distrusted: %v %v", dis, err)
	}
	// The agent takes the copy out: distrust again is a change.
	if ch, err := s.Distrust(ctx, []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil || ch[0].Action != stores.ActionDistrusted {
		t.Fatalf("distrust with a copy back: %v %v", ch, err)
	}
	if _, err := os.Stat(filepath.Join(root, systemtest.RHELAnchorsDir, "back.pem")); !os.IsNotExist(err) {
		t.Errorf("the copy added back is still an anchor: %v", err)
	}
	if ch, _ := s.Distrust(ctx, []*x509.Certificate{ca.Cert}, stores.Options{}); ch[0].Action != stores.ActionUnchanged {
		t.Errorf("third distrust: %v", ch)
	}
	if ch, err := s.Undistrust(ctx, []string{stores.SHA256(ca.Cert)}, stores.Options{}); err != nil || ch[0].Action != stores.ActionUndistrusted {
		t.Fatalf("undistrust: %v %v", ch, err)
	}
	if strings.Contains(listed(t, root, "blocklist", ""), "Leaked RHEL CA") {
		t.Fatal("after undistrust p11-kit still blocklists the CA")
	}
	if err := verify(t, tls, "sslserver", leaf); err == nil {
		t.Fatal("undistrust added trust")
	}
}
