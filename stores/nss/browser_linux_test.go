//go:build linux

package nss_test

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/browsertest"
	"github.com/anchorwatch/anchorwatch/internal/hostile"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/firefox"
	"github.com/anchorwatch/anchorwatch/stores/nss"
)

// The real browsers decide: headless Firefox ESR 153 (its own NSS 3.125)
// and Chromium (the system NSS 3.87 through ~/.pki/nssdb), run as a
// normal user, load a page served by a leaf of the CA before install
// (refused), after install (loads), after remove (refused, also when the
// server sends the CA in its chain: no trust object is left behind) and
// after distrust of a copy the user added back (refused, chain and all).
// Firefox first gets the CA through the enterprise policy, which makes
// it write its own CKO_TRUST object ("CT,CT,"), the case certutil 3.87
// used to leave behind.
func TestBrowsersInstallRemoveDistrust(t *testing.T) {
	u := hostile.NewUser(t) // a normal user: nothing hostile is planted here
	ca := testpki.NewCA(t, "Anchorwatch Browser CA")
	withCA := ca.Leaf(t, "127.0.0.1")
	withCA.Certificate = append(withCA.Certificate, ca.Cert.Raw)
	// A fresh server per check: a refused handshake names no page.
	leaf := func() *browsertest.Server { return browsertest.Serve(t, ca.Leaf(t, "127.0.0.1")) }
	chain := func() *browsertest.Server { return browsertest.Serve(t, withCA) }

	profile := filepath.Join(u.Home, ".mozilla/firefox/test.default")
	nssdb := filepath.Join(u.Home, ".pki/nssdb")
	u.Shell(t, "mkdir -p "+profile+" "+nssdb+" && certutil -N -d sql:"+nssdb+" --empty-password")
	policyRoot := t.TempDir()
	mounts := []browsertest.Mount{{Target: "/etc/firefox", Source: filepath.Join(policyRoot, "etc/firefox")}}
	if err := os.MkdirAll(mounts[0].Source, 0o755); err != nil {
		t.Fatal(err)
	}
	ff := func(s *browsertest.Server, page string) bool {
		return browsertest.Firefox(t, u, profile, mounts, s, page)
	}
	chr := func(s *browsertest.Server, page string) bool {
		return browsertest.Chromium(t, u, s, page)
	}
	ctx := context.Background()
	want := []*x509.Certificate{ca.Cert}
	fp := stores.SHA256(ca.Cert)

	if f, c := ff(chain(), "ff-before"), chr(chain(), "chr-before"); f || c {
		t.Fatalf("before install: Firefox loaded %v, Chromium loaded %v", f, c)
	}

	// Install: the Firefox policy, then the NSS databases.
	pol := firefox.New(firefox.Config{Path: firefox.SystemPolicyPath, Mode: firefox.ModeInstall}, stores.Env{Root: policyRoot})
	if _, err := pol.Install(ctx, want, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	if !ff(leaf(), "ff-policy") {
		t.Fatal("with Certificates.Install Firefox refused the page")
	}
	prof := open(t, profile, "firefox")
	chrome := open(t, nssdb, "chromium")
	if r := stores.Audit(ctx, prof, want); r.Status != stores.StatusOvertrusted {
		t.Fatalf("the profile after Firefox imported the CA: %s (%s), want overtrusted (CT,CT,)", r.Status, r.Detail)
	}
	for _, s := range []*nss.Store{prof, chrome} {
		if _, err := s.Install(ctx, want, stores.Options{}); err != nil {
			t.Fatal(err)
		}
		if r := stores.Audit(ctx, s, want); r.Status != stores.StatusCompliant {
			t.Fatalf("%s after install: %s (%s)", s.Info().ID, r.Status, r.Detail)
		}
	}
	if f, c := ff(leaf(), "ff-installed"), chr(leaf(), "chr-installed"); !f || !c {
		t.Fatalf("after install: Firefox loaded %v, Chromium loaded %v", f, c)
	}

	// Remove from the policy and both databases.
	if _, err := pol.Remove(ctx, []string{fp}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*nss.Store{prof, chrome} {
		if _, err := s.Remove(ctx, []string{fp}, stores.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	if f, c := ff(chain(), "ff-removed"), chr(chain(), "chr-removed"); f || c {
		t.Fatalf("after remove, with the CA in the chain: Firefox loaded %v, Chromium loaded %v", f, c)
	}
	if _, err := os.Stat(filepath.Join(policyRoot, "etc/firefox/policies")); !os.IsNotExist(err) {
		t.Errorf("remove left the policy directory it created: %v", err)
	}

	// The user adds the CA back, trusted, with Firefox's own NSS and the
	// system's; distrust must win in both browsers.
	pem := filepath.Join(u.Home, "ca.pem")
	testpki.WritePEM(t, pem, ca.Cert)
	os.Chown(pem, u.UID, u.GID)
	addBack := u.Cmd("certutil", "-A", "-d", "sql:"+profile, "-n", "back", "-t", "C,,", "-a", "-i", pem)
	addBack.Env = append(addBack.Env, "LD_LIBRARY_PATH=/usr/lib/firefox-esr")
	if out, err := addBack.CombinedOutput(); err != nil {
		t.Fatalf("add back with Firefox's NSS: %v\n%s", err, out)
	}
	u.Run(t, "certutil", "-A", "-d", "sql:"+nssdb, "-n", "back", "-t", "C,,", "-a", "-i", pem)
	if f, c := ff(chain(), "ff-back"), chr(chain(), "chr-back"); !f || !c {
		t.Fatal("the CA the user added back is not trusted: the distrust step would prove nothing")
	}
	for _, s := range []*nss.Store{prof, chrome} {
		if _, err := s.Distrust(ctx, want, stores.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	if f, c := ff(chain(), "ff-distrusted"), chr(chain(), "chr-distrusted"); f || c {
		t.Fatalf("after distrust, with the CA in the chain: Firefox loaded %v, Chromium loaded %v", f, c)
	}
}

func open(t *testing.T, dir, app string) *nss.Store {
	t.Helper()
	s, err := nss.Open(stores.Env{Root: "/"}, dir, app)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
