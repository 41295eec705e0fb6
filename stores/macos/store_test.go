// This is NOT a macOS run. Nothing here executes /usr/bin/security: the
// tests drive the adapter through a recording Runner that checks the exact
// security(1) command lines the adapter issues and answers them with
// outputs in the documented format of the real commands, kept in testdata/
// (see testdata/SOURCES.md for where each format comes from). What they
// prove is our side: the commands we issue, how we parse what macOS
// prints, and the trusted/untrusted/needs-mdm decisions.
package macos

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores"
)

// step is one expected command and its recorded answer.
type step struct {
	cmd     string // command line with temp paths shown as TMP/<base name>
	stdout  string // fixture file for stdout
	stderr  string // fixture file for stderr (with code != 0)
	code    int
	writeTo string // fixture to copy to the command's last argument (trust-settings-export)
	// check inspects the command's file argument (the PEM we hand to security).
	check func(t *testing.T, file string)
}

// recorder is a Runner replaying steps in order.
type recorder struct {
	t     *testing.T
	steps []step
	n     int
}

var tmpPath = regexp.MustCompile(`/\S*/anchorwatch-(trust|install|remove|distrust|undistrust)-[^/\s]+/`)

func (r *recorder) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	r.t.Helper()
	line := tmpPath.ReplaceAllString(CommandLine(name, args), "TMP/")
	if r.n >= len(r.steps) {
		r.t.Fatalf("unexpected command %d: %s", r.n+1, line)
	}
	s := r.steps[r.n]
	r.n++
	if line != s.cmd {
		r.t.Fatalf("command %d:\n got %s\nwant %s", r.n, line, s.cmd)
	}
	last := args[len(args)-1]
	if s.writeTo != "" {
		if err := os.WriteFile(last, fixture(r.t, s.writeTo), 0o600); err != nil {
			r.t.Fatal(err)
		}
	}
	if s.check != nil {
		s.check(r.t, last)
	}
	var out []byte
	if s.stdout != "" {
		out = fixture(r.t, s.stdout)
	}
	if s.code != 0 {
		return out, &CommandError{Cmd: line, Code: s.code, Stderr: string(fixture(r.t, s.stderr))}
	}
	return out, nil
}

func (r *recorder) done() {
	r.t.Helper()
	if r.n != len(r.steps) {
		r.t.Fatalf("%d of %d expected commands ran; next: %s", r.n, len(r.steps), r.steps[r.n].cmd)
	}
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cert(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(fixture(t, name+".pem"))
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const (
	cmdFind   = "/usr/bin/security find-certificate -a -Z -p /Library/Keychains/System.keychain"
	cmdExport = "/usr/bin/security trust-settings-export -d TMP/admin-trust.plist"
)

var (
	stepFind   = step{cmd: cmdFind, stdout: "find-certificate-a-Z-p-System.keychain.txt"}
	stepExport = step{cmd: cmdExport, writeTo: "trust-settings-export-d.plist"}
	// stepExportSSLDeny: root-ssl as `add-trusted-cert -p ssl` leaves it
	// (SSL only), root-deny as `add-trusted-cert -r deny` does (every
	// policy denied).
	stepExportSSLDeny = step{cmd: cmdExport, writeTo: "trust-settings-export-ssl-deny.plist"}
)

func newStore(t *testing.T, steps ...step) (*Store, *recorder) {
	r := &recorder{t: t, steps: steps}
	s := New(stores.Env{}, r)
	s.TempDir = t.TempDir()
	return s, r
}

// pemOf checks that the file security is handed holds exactly c.
func pemOf(c *x509.Certificate) func(t *testing.T, file string) {
	return func(t *testing.T, file string) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("certificate file handed to security: %v", err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil || string(blk.Bytes) != string(c.Raw) {
			t.Fatalf("file %s does not hold %q", file, c.Subject.CommonName)
		}
	}
}

func TestListTellsTrustedFromUntrusted(t *testing.T) {
	s, r := newStore(t, stepFind, stepExport)
	as, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r.done()
	want := map[string]bool{ // fixture certificate -> trusted for TLS server auth
		"root-always":    true,  // empty trustSettings array: always trust
		"root-ssl":       true,  // SSL policy, TrustRoot
		"root-untrusted": false, // in the keychain, no admin trust settings
		"root-deny":      false, // SSL policy, Deny
		"root-smime":     false, // S/MIME only; SSL only for one host name
	}
	got := map[string]bool{}
	for _, a := range as {
		got[a.SHA256] = a.TrustedServerAuth
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d certificates, want %d", len(got), len(want))
	}
	for name, tr := range want {
		fp := stores.SHA256(cert(t, name))
		g, ok := got[fp]
		if !ok || g != tr {
			t.Errorf("%s: listed %v trusted %v, want trusted %v", name, ok, g, tr)
		}
	}
	// The audit status follows: present-but-untrusted is "untrusted".
	res := stores.Check(s.Info(), as, []*x509.Certificate{cert(t, "root-untrusted")})
	if res.Status != stores.StatusUntrusted {
		t.Errorf("audit of an untrusted keychain certificate: %s, want %s", res.Status, stores.StatusUntrusted)
	}
	// Purposes: the fixture's root-ssl is trusted for SSL and basic X.509
	// (any program asking for basic validation), root-always for every
	// policy: both overtrusted.
	purposes := map[string]string{"root-always": "any", "root-ssl": "serverAuth, any", "root-smime": "emailProtection", "root-deny": "nothing", "root-untrusted": "nothing"}
	for _, a := range as {
		for name, want := range purposes {
			if a.SHA256 == stores.SHA256(cert(t, name)) && stores.JoinPurposes(a.Purposes) != want {
				t.Errorf("%s: purposes %q, want %q", name, stores.JoinPurposes(a.Purposes), want)
			}
		}
	}
	for _, name := range []string{"root-ssl", "root-always"} {
		res = stores.Check(s.Info(), as, []*x509.Certificate{cert(t, name)})
		if res.Status != stores.StatusOvertrusted || !strings.Contains(res.Detail, "beyond TLS server auth") {
			t.Errorf("audit of %s: %s %q, want %s", name, res.Status, res.Detail, stores.StatusOvertrusted)
		}
	}
	// As `add-trusted-cert -p ssl` leaves it: compliant.
	s, r = newStore(t, stepFind, stepExportSSLDeny)
	if as, err = s.List(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.done()
	res = stores.Check(s.Info(), as, []*x509.Certificate{cert(t, "root-ssl")})
	if res.Status != stores.StatusCompliant || stores.JoinPurposes(res.Purposes[stores.SHA256(cert(t, "root-ssl"))]) != "serverAuth" {
		t.Errorf("audit of an SSL-only certificate: %s %v, want %s", res.Status, res.Purposes, stores.StatusCompliant)
	}
}

func TestListWithoutAdminTrustSettings(t *testing.T) {
	s, r := newStore(t, stepFind, step{cmd: cmdExport, code: 1, stderr: "trust-settings-export-none.stderr"})
	as, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r.done()
	for _, a := range as {
		if a.TrustedServerAuth {
			t.Errorf("%s trusted with no admin trust settings", a.Label)
		}
	}
}

func TestInstall(t *testing.T) {
	root, inter := cert(t, "root-new"), cert(t, "intermediate")
	addRoot := "/usr/bin/security add-trusted-cert -d -r trustRoot -p ssl -k /Library/Keychains/System.keychain TMP/" + stores.Label(root) + ".pem"
	add := func(name string) string {
		return "/usr/bin/security add-trusted-cert -d -r trustRoot -p ssl -k /Library/Keychains/System.keychain TMP/" + stores.Label(cert(t, name)) + ".pem"
	}
	tests := []struct {
		name    string
		certs   []*x509.Certificate
		steps   []step
		actions []string
		wantErr error
	}{{
		name:    "new root",
		certs:   []*x509.Certificate{root},
		steps:   []step{stepFind, stepExport, {cmd: addRoot, check: pemOf(root)}},
		actions: []string{stores.ActionAdded},
	}, {
		name:  "intermediate is trustAsRoot",
		certs: []*x509.Certificate{inter},
		steps: []step{stepFind, stepExport, {
			cmd:   "/usr/bin/security add-trusted-cert -d -r trustAsRoot -p ssl -k /Library/Keychains/System.keychain TMP/" + stores.Label(inter) + ".pem",
			check: pemOf(inter),
		}},
		actions: []string{stores.ActionAdded},
	}, {
		name:    "present and trusted for SSL only is unchanged",
		certs:   []*x509.Certificate{cert(t, "root-ssl")},
		steps:   []step{stepFind, stepExportSSLDeny},
		actions: []string{stores.ActionUnchanged},
	}, {
		name:    "trusted for every policy, or SSL and basic X.509, is narrowed to SSL",
		certs:   []*x509.Certificate{cert(t, "root-ssl"), cert(t, "root-always")},
		steps:   []step{stepFind, stepExport, {cmd: add("root-ssl"), check: pemOf(cert(t, "root-ssl"))}, {cmd: add("root-always")}},
		actions: []string{stores.ActionTrusted, stores.ActionTrusted},
	}, {
		name:    "present but untrusted gets trust",
		certs:   []*x509.Certificate{cert(t, "root-untrusted")},
		steps:   []step{stepFind, stepExport, {cmd: add("root-untrusted")}},
		actions: []string{stores.ActionTrusted},
	}, {
		name:    "distrusted (denied for every policy) is an error",
		certs:   []*x509.Certificate{cert(t, "root-deny")},
		steps:   []step{stepFind, stepExportSSLDeny},
		wantErr: errDistrusted,
	}, {
		name:    "macOS 11 headless refuses: needs MDM",
		certs:   []*x509.Certificate{root},
		steps:   []step{stepFind, stepExport, {cmd: addRoot, code: 1, stderr: "add-trusted-cert-headless.stderr"}},
		wantErr: ErrNeedsMDM,
	}, {
		name:    "authorization denied: needs MDM",
		certs:   []*x509.Certificate{root},
		steps:   []step{stepFind, stepExport, {cmd: addRoot, code: 1, stderr: "add-trusted-cert-denied.stderr"}},
		wantErr: ErrNeedsMDM,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, r := newStore(t, tc.steps...)
			ch, err := s.Install(context.Background(), tc.certs, stores.Options{})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want one wrapping %v", err, tc.wantErr)
				}
				if tc.wantErr == ErrNeedsMDM && !strings.Contains(err.Error(), ".mobileconfig") {
					t.Errorf("needs-mdm error does not point to the .mobileconfig route: %v", err)
				}
				r.done()
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r.done()
			if got := actionsOf(ch); fmt.Sprint(got) != fmt.Sprint(tc.actions) {
				t.Fatalf("actions %v, want %v", got, tc.actions)
			}
		})
	}
}

func TestInstallDryRunIssuesNoWrite(t *testing.T) {
	s, r := newStore(t, stepFind, stepExport)
	ch, err := s.Install(context.Background(), []*x509.Certificate{cert(t, "root-new")}, stores.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	r.done()
	if fmt.Sprint(actionsOf(ch)) != "[added]" {
		t.Fatalf("dry run: %v", actionsOf(ch))
	}
}

func TestRemove(t *testing.T) {
	c := cert(t, "root-deny")
	fp := stores.SHA256(c)
	pemArg := "TMP/" + stores.Label(c) + ".pem"
	del := "/usr/bin/security delete-certificate -Z " + strings.ToUpper(stores.SHA1(c)) + " /Library/Keychains/System.keychain"
	for _, untrust := range []step{
		{cmd: "/usr/bin/security remove-trusted-cert -d " + pemArg, check: pemOf(c)},
		{cmd: "/usr/bin/security remove-trusted-cert -d " + pemArg, code: 1, stderr: "remove-trusted-cert-none.stderr"},
	} {
		s, r := newStore(t, stepFind, stepExport, untrust, step{cmd: del})
		ch, err := s.Remove(context.Background(), []string{strings.ToUpper(fp), strings.Repeat("ab", 32)}, stores.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r.done()
		if fmt.Sprint(actionsOf(ch)) != "[removed unchanged]" {
			t.Fatalf("remove: %v", actionsOf(ch))
		}
	}
	s, _ := newStore(t, stepFind, stepExport)
	if _, err := s.Remove(context.Background(), []string{"not-a-hash"}, stores.Options{}); err == nil {
		t.Fatal("remove accepted a malformed fingerprint")
	}
}

func TestReadErrorsAreReported(t *testing.T) {
	s, r := newStore(t, step{cmd: cmdFind, code: 51, stderr: "add-trusted-cert-denied.stderr"})
	if _, err := s.List(context.Background()); err == nil || !strings.Contains(err.Error(), "System.keychain") {
		t.Fatalf("List with failing find-certificate: %v", err)
	}
	r.done()
}

func actionsOf(ch []stores.Change) []string {
	var out []string
	for _, c := range ch {
		out = append(out, c.Action)
	}
	return out
}
