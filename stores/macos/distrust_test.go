// Like store_test.go, NOT a macOS run: the recording Runner checks the
// security(1) command lines and answers with fixtures in the documented
// formats (testdata/SOURCES.md).
package macos

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores"
)

func deny(t *testing.T, name string) step {
	return step{cmd: "/usr/bin/security add-trusted-cert -d -r deny -k /Library/Keychains/System.keychain TMP/" + stores.Label(cert(t, name)) + ".pem",
		check: pemOf(cert(t, name))}
}

// Distrust writes deny settings for every policy (a certificate not in the
// keychain is added by the same command); one denied already is unchanged.
func TestDistrust(t *testing.T) {
	s, r := newStore(t, stepFind, stepExportSSLDeny, deny(t, "root-ssl"), deny(t, "root-new"))
	ch, err := s.Distrust(context.Background(), []*x509.Certificate{cert(t, "root-ssl"), cert(t, "root-deny"), cert(t, "root-new"), cert(t, "root-ssl")}, stores.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.done()
	if got := fmt.Sprint(actionsOf(ch)); got != "[distrusted unchanged distrusted]" {
		t.Fatalf("distrust: %s", got)
	}
	// A deny for the SSL policy alone (not ours) is made a deny for all.
	s, r = newStore(t, stepFind, stepExport, deny(t, "root-deny"))
	if ch, err = s.Distrust(context.Background(), []*x509.Certificate{cert(t, "root-deny")}, stores.Options{}); err != nil || fmt.Sprint(actionsOf(ch)) != "[distrusted]" {
		t.Fatalf("distrust over an SSL-only deny: %v %v", actionsOf(ch), err)
	}
	r.done()
	// Dry run: no command.
	s, r = newStore(t, stepFind, stepExportSSLDeny)
	if ch, err = s.Distrust(context.Background(), []*x509.Certificate{cert(t, "root-ssl")}, stores.Options{DryRun: true}); err != nil || fmt.Sprint(actionsOf(ch)) != "[distrusted]" {
		t.Fatalf("dry run: %v %v", actionsOf(ch), err)
	}
	r.done()
	// macOS 11+ headless refuses: needs MDM.
	s, r = newStore(t, stepFind, stepExportSSLDeny, step{cmd: deny(t, "root-ssl").cmd, code: 1, stderr: "add-trusted-cert-headless.stderr"})
	if _, err = s.Distrust(context.Background(), []*x509.Certificate{cert(t, "root-ssl")}, stores.Options{}); !errors.Is(err, ErrNeedsMDM) {
		t.Fatalf("headless distrust: %v, want ErrNeedsMDM", err)
	}
	r.done()
}

// Distrusted lists the certificates denied for every policy; Undistrust
// removes their settings and nothing else.
func TestDistrustedAndUndistrust(t *testing.T) {
	s, r := newStore(t, stepFind, stepExportSSLDeny)
	as, err := s.Distrusted(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r.done()
	if len(as) != 1 || as[0].SHA256 != stores.SHA256(cert(t, "root-deny")) {
		t.Fatalf("Distrusted: %+v", as)
	}
	// The main fixture denies root-deny for SSL only: not our distrust.
	s, r = newStore(t, stepFind, stepExport)
	if as, err = s.Distrusted(context.Background()); err != nil || len(as) != 0 {
		t.Fatalf("Distrusted with an SSL-only deny: %v %v", as, err)
	}
	r.done()

	denied := cert(t, "root-deny")
	untrust := "/usr/bin/security remove-trusted-cert -d TMP/" + stores.Label(denied) + ".pem"
	s, r = newStore(t, stepFind, stepExportSSLDeny, step{cmd: untrust, check: pemOf(denied)})
	ch, err := s.Undistrust(context.Background(), []string{strings.ToUpper(stores.SHA256(denied)), stores.SHA256(cert(t, "root-ssl"))}, stores.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.done()
	if got := fmt.Sprint(actionsOf(ch)); got != "[undistrusted unchanged]" {
		t.Fatalf("undistrust: %s", got)
	}
	s, _ = newStore(t, stepFind, stepExportSSLDeny)
	if _, err := s.Undistrust(context.Background(), []string{"nope"}, stores.Options{}); err == nil {
		t.Fatal("undistrust accepted a malformed fingerprint")
	}
}
