package nss

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/nss/nsstest"
)

// The trust Firefox ESR 153 itself writes is a PKCS#11 3.2 CKO_TRUST
// object (its NSS 3.125); Debian's certutil (NSS 3.87) neither reads nor
// deletes it. These tests write it with Firefox's own libraries the way
// the Certificates.Install policy does ("CT,CT,") and prove with NSS's
// own TLS client, tstclnt, running on Firefox's libraries, that what the
// adapter reports is what that NSS decides. The server sends the CA in
// its chain, the case where a leftover trust object still counts.

// chainServer serves a leaf of ca with ca itself in the chain.
func chainServer(t *testing.T, ca *testpki.CA) string {
	t.Helper()
	leaf := ca.Leaf(t, "127.0.0.1")
	leaf.Certificate = append(leaf.Certificate, ca.Cert.Raw)
	addr, _ := testpki.ServeTLS(t, leaf)
	return addr
}

// handshake runs tstclnt on the NSS in env (nil: the system's) against
// addr with the database in hostDir; nil when NSS accepted the server.
func handshake(t *testing.T, env []string, hostDir, addr string) error {
	t.Helper()
	bin, err := exec.LookPath("tstclnt")
	if err != nil {
		t.Fatalf("tstclnt not found: install the Debian package libnss3-tools (%v)", err)
	}
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-h", host, "-p", port, "-d", "sql:"+hostDir, "-V", "tls1.2:tls1.3")
	cmd.Env = append(os.Environ(), env...)
	if cmd.Stdin, err = os.Open(os.DevNull); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return errors.New(strings.TrimSpace(string(out)))
	}
	return nil
}

// rowsOf counts the objects of any class naming c (by issuer and
// serial number) in the database: certificate and trust objects.
func rowsOf(t *testing.T, hostDir string, c *x509.Certificate) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(hostDir, "cert9.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM nssPublic WHERE a81 = ?", c.RawIssuer).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func firefoxDB(t *testing.T) (root, dir, hostDir string, ff []string) {
	t.Helper()
	ff = nsstest.FirefoxNSS(t)
	root = t.TempDir()
	dir = "/home/u/.mozilla/firefox/p.default"
	hostDir = fsroot.Join(root, dir)
	if err := os.MkdirAll(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	nsstest.RunEnv(t, ff, nil, "-N", "-d", "sql:"+hostDir, "--empty-password")
	return root, dir, hostDir, ff
}

func TestFirefoxWrittenTrustNarrowedAndRemoved(t *testing.T) {
	root, dir, hostDir, ff := firefoxDB(t)
	ca := testpki.NewCA(t, "Firefox Policy CA")
	addr := chainServer(t, ca)
	nsstest.RunEnv(t, ff, testpki.PEM(ca.Cert), "-A", "-d", "sql:"+hostDir, "-n", "Firefox Policy CA", "-t", "CT,CT,", "-a")
	if err := handshake(t, ff, hostDir, addr); err != nil {
		t.Fatalf("Firefox's NSS refuses the CA it trusts: %v", err)
	}
	s := openStore(t, root, dir, "firefox")
	ctx := context.Background()
	want := []*x509.Certificate{ca.Cert}
	if r := stores.Audit(ctx, s, want); r.Status != stores.StatusOvertrusted || !strings.Contains(r.Detail, "emailProtection") {
		t.Fatalf("audit of Firefox's CT,CT,: %s (%s), want overtrusted naming S/MIME", r.Status, r.Detail)
	}
	ch, err := s.Install(ctx, want, stores.Options{})
	if err != nil || ch[0].Action != stores.ActionTrusted {
		t.Fatalf("install over CT,CT,: %v %v", ch, err)
	}
	for _, env := range [][]string{nil, ff} {
		if got := trustOn(t, env, hostDir, "Firefox Policy CA"); got != "C,," {
			t.Errorf("after install, certutil on %v shows %q, want C,,", env, got)
		}
	}
	if r := stores.Audit(ctx, s, want); r.Status != stores.StatusCompliant {
		t.Fatalf("audit after install: %s (%s)", r.Status, r.Detail)
	}
	if err := handshake(t, ff, hostDir, addr); err != nil {
		t.Fatalf("after install Firefox's NSS refuses the server: %v", err)
	}
	if _, err := s.Remove(ctx, []string{stores.SHA256(ca.Cert)}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	if n := rowsOf(t, hostDir, ca.Cert); n != 0 {
		t.Fatalf("after remove %d objects of the CA are left in cert9.db", n)
	}
	if err := handshake(t, ff, hostDir, addr); err == nil {
		t.Fatal("after remove Firefox's NSS still accepts a server sending the CA in its chain")
	}
}

func trustOn(t *testing.T, env []string, hostDir, nick string) string {
	t.Helper()
	for _, line := range strings.Split(nsstest.RunEnv(t, env, nil, "-L", "-d", "sql:"+hostDir), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.Join(f[:len(f)-1], " ") == nick {
			return f[len(f)-1]
		}
	}
	return ""
}

// Debian's certutil deleting a certificate Firefox trusted leaves the
// CKO_TRUST object: Firefox's NSS still accepts the CA from the chain.
// Audit and List show it; Remove without the certificate says what to
// do, with it (Options.Certs) takes the object out.
func TestLeftoverFirefoxTrustObject(t *testing.T) {
	root, dir, hostDir, ff := firefoxDB(t)
	ca := testpki.NewCA(t, "Leftover CA")
	fp := stores.SHA256(ca.Cert)
	addr := chainServer(t, ca)
	nsstest.RunEnv(t, ff, testpki.PEM(ca.Cert), "-A", "-d", "sql:"+hostDir, "-n", "leftover", "-t", "CT,CT,", "-a")
	nsstest.Run(t, nil, "-D", "-d", "sql:"+hostDir, "-n", "leftover") // what anchorwatch < this change ran
	if err := handshake(t, ff, hostDir, addr); err != nil {
		t.Fatalf("the premise: Firefox's NSS should still trust the chain through the leftover object, got %v", err)
	}
	s := openStore(t, root, dir, "firefox")
	ctx := context.Background()
	as, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var left *stores.Anchor
	for i := range as {
		if as[i].SHA256 == fp {
			left = &as[i]
		}
	}
	if left == nil || left.Cert != nil || left.TrustedServerAuth || left.Label != leftoverLabel ||
		stores.JoinPurposes(left.Purposes) != "serverAuth, clientAuth, emailProtection" {
		t.Fatalf("List shows the leftover object as %+v", left)
	}
	r := stores.Audit(ctx, s, []*x509.Certificate{ca.Cert})
	if r.Status == stores.StatusCompliant || !strings.Contains(r.Detail, "remains without the certificate") {
		t.Fatalf("audit: %s (%s), want the leftover trust object named", r.Status, r.Detail)
	}
	if _, err := s.Remove(ctx, []string{fp}, stores.Options{}); err == nil || !strings.Contains(err.Error(), "remove --ca") {
		t.Fatalf("remove by fingerprint of a leftover object: %v, want an error saying to give the certificate", err)
	}
	ch, err := s.Remove(ctx, []string{fp}, stores.Options{Certs: []*x509.Certificate{ca.Cert}})
	if err != nil || len(ch) != 1 || ch[0].Action != stores.ActionRemoved {
		t.Fatalf("remove with the certificate: %v %v", ch, err)
	}
	if n := rowsOf(t, hostDir, ca.Cert); n != 0 {
		t.Fatalf("after remove %d objects of the CA are left", n)
	}
	if err := handshake(t, ff, hostDir, addr); err == nil {
		t.Fatal("after remove Firefox's NSS still accepts the chain")
	}
}

// Distrust refuses the CA in both trust objects: Firefox's NSS and the
// system's (Chromium's) both reject a server sending it in its chain,
// even after Firefox had written its own trust for it.
func TestDistrustBothGenerations(t *testing.T) {
	root, dir, hostDir, ff := firefoxDB(t)
	ca := testpki.NewCA(t, "Leaked CA")
	bystander := testpki.NewCA(t, "Leaked CA") // same subject, another key
	addr := chainServer(t, ca)
	ctx := context.Background()
	s := openStore(t, root, dir, "firefox")
	nsstest.RunEnv(t, ff, testpki.PEM(bystander.Cert), "-A", "-d", "sql:"+hostDir, "-n", "bystander", "-t", "C,,", "-a")
	if _, err := s.Install(ctx, []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	// Firefox imports it again with its own trust (both share the
	// subject, so the nickname).
	nsstest.RunEnv(t, ff, testpki.PEM(ca.Cert), "-A", "-d", "sql:"+hostDir, "-n", "bystander", "-t", "CT,CT,", "-a")
	for _, env := range [][]string{nil, ff} {
		if err := handshake(t, env, hostDir, addr); err != nil {
			t.Fatalf("before distrust NSS %v refuses the server: %v", env, err)
		}
	}
	ch, err := s.Distrust(ctx, []*x509.Certificate{ca.Cert}, stores.Options{})
	if err != nil || ch[0].Action != stores.ActionDistrusted {
		t.Fatalf("distrust: %v %v", ch, err)
	}
	for _, env := range [][]string{nil, ff} {
		if err := handshake(t, env, hostDir, addr); err == nil {
			t.Errorf("after distrust NSS %v still accepts a server sending the CA in its chain", env)
		}
	}
	dis, err := s.Distrusted(ctx)
	if err != nil || len(dis) != 1 || dis[0].SHA256 != stores.SHA256(ca.Cert) {
		t.Fatalf("Distrusted: %v %v", dis, err)
	}
	if ch, _ := s.Distrust(ctx, []*x509.Certificate{ca.Cert}, stores.Options{}); ch[0].Action != stores.ActionUnchanged {
		t.Errorf("second distrust: %v", ch)
	}
	if a, _ := anchorFor(mustList(t, s), bystander.Cert); !a.TrustedServerAuth {
		t.Errorf("the bystander sharing the subject lost its trust: %+v", a)
	}
	if _, err := s.Undistrust(ctx, []string{stores.SHA256(ca.Cert)}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := anchorFor(mustList(t, s), ca.Cert); ok {
		t.Error("undistrust left the distrust record")
	}
	if a, _ := anchorFor(mustList(t, s), bystander.Cert); !a.TrustedServerAuth {
		t.Errorf("the bystander lost its trust in undistrust: %+v", a)
	}
}

func mustList(t *testing.T, s *Store) []stores.Anchor {
	t.Helper()
	as, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return as
}
