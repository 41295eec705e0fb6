package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/stores"
)

// fakeStore is an in-memory Store for testing the commands' logic
// (statuses, exit codes, output) apart from the adapters.
type fakeStore struct {
	info     stores.Info
	mu       sync.Mutex
	anchors  []stores.Anchor
	listErr  error
	writeErr error
	writes   int
}

func (s *fakeStore) Info() stores.Info       { return s.info }
func (s *fakeStore) Watch() stores.WatchSpec { return stores.WatchSpec{} }

func (s *fakeStore) List(context.Context) ([]stores.Anchor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listErr != nil {
		return nil, s.listErr
	}
	return append([]stores.Anchor(nil), s.anchors...), nil
}

func (s *fakeStore) Install(_ context.Context, certs []*x509.Certificate, opt stores.Options) ([]stores.Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writeErr != nil {
		return nil, s.writeErr
	}
	next := append([]stores.Anchor(nil), s.anchors...)
	var cs []stores.Change
	for _, c := range certs {
		fp := stores.SHA256(c)
		action := stores.ActionAdded
		for i := range next {
			if next[i].SHA256 == fp {
				action = stores.ActionUnchanged
				if !next[i].TrustedServerAuth {
					next[i].TrustedServerAuth = true
					action = stores.ActionTrusted
				}
			}
		}
		if action == stores.ActionAdded {
			next = append(next, stores.NewAnchor(c, stores.Label(c), true))
		}
		cs = append(cs, stores.Change{SHA256: fp, Action: action})
	}
	if !opt.DryRun && stores.Changed(cs) {
		s.anchors = next
		s.writes++
	}
	return cs, nil
}

func (s *fakeStore) Remove(_ context.Context, fps []string, opt stores.Options) ([]stores.Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writeErr != nil {
		return nil, s.writeErr
	}
	var cs []stores.Change
	next := s.anchors[:0:0]
	gone := map[string]bool{}
	for _, a := range s.anchors {
		drop := false
		for _, fp := range fps {
			drop = drop || a.SHA256 == fp
		}
		if drop {
			gone[a.SHA256] = true
			continue
		}
		next = append(next, a)
	}
	for _, fp := range fps {
		if gone[fp] {
			cs = append(cs, stores.Change{SHA256: fp, Action: stores.ActionRemoved})
		} else {
			cs = append(cs, stores.Change{SHA256: fp, Action: stores.ActionUnchanged})
		}
	}
	if !opt.DryRun && stores.Changed(cs) {
		s.anchors = next
		s.writes++
	}
	return cs, nil
}

func newFake(kind stores.Kind, p string) *fakeStore {
	return &fakeStore{info: stores.Info{ID: string(kind) + ":" + p, Kind: kind, Path: p, Format: "fake", Writable: true}}
}

// fakeHost is a set of fake stores and optional discovery failures.
type fakeHost struct {
	stores []*fakeStore
	errs   []error
}

func (h *fakeHost) deps(bl *policy.Blocklist) hostDeps {
	if bl == nil {
		bl = policy.DefaultBlocklist()
	}
	return hostDeps{blocklist: bl, discover: func(_ context.Context, env stores.Env, kinds []stores.Kind) ([]stores.Store, []error) {
		want := map[stores.Kind]bool{}
		for _, k := range kinds {
			want[k] = true
		}
		var out []stores.Store
		for _, s := range h.stores {
			if len(want) == 0 || want[s.info.Kind] {
				out = append(out, s)
			}
		}
		return out, h.errs
	}}
}

// runCLI runs the anchorwatch command line with args and returns what it
// printed and the exit status main would use.
func runCLI(t *testing.T, root *cobra.Command, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	code = exitCode(err)
	if err != nil {
		var ee *exitError
		if !errors.As(err, &ee) || ee.err != nil {
			fmt.Fprintln(&errb, "anchorwatch:", err)
		}
	}
	return out.String(), errb.String(), code
}

// exitCode is main's mapping of an error to the process status.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func fakeRoot(d hostDeps) *cobra.Command {
	root := &cobra.Command{Use: "anchorwatch", SilenceUsage: true, SilenceErrors: true}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	root.AddCommand(newHostCommands(d)...)
	return root
}

type testCA struct {
	cert *x509.Certificate
	file string // PEM file
}

func makeCA(t *testing.T, dir, cn string, isCA bool) testCA {
	t.Helper()
	var c *x509.Certificate
	if isCA {
		c = testpki.NewCA(t, cn).Cert
	} else {
		c, _ = testpki.SelfSigned(t, cn)
	}
	return testCA{cert: c, file: testpki.WritePEM(t, filepath.Join(dir, strings.ReplaceAll(cn, " ", "_")+".pem"), c)}
}

func fingerprintColons(fp string) string {
	var b strings.Builder
	for i := 0; i < len(fp); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strings.ToUpper(fp[i : i+2]))
	}
	return b.String()
}

func TestFakeInstallAuditRemove(t *testing.T) {
	dir := t.TempDir()
	ca := makeCA(t, dir, "Corp Interception CA", true)
	vendor := makeCA(t, dir, "Vendor Root", true)
	sys := newFake(stores.KindSystem, "/etc/ssl/certs/ca-certificates.crt")
	sys.anchors = []stores.Anchor{{Cert: vendor.cert, SHA256: stores.SHA256(vendor.cert), TrustedServerAuth: true, Vendor: true}}
	ff := newFake(stores.KindNSS, "/home/alice/.mozilla/firefox/x.default")
	jv := newFake(stores.KindJava, "/etc/ssl/certs/java/cacerts")
	h := &fakeHost{stores: []*fakeStore{sys, ff, jv}}
	root := dir // any existing dir will do for fakes
	cli := func(args ...string) (string, string, int) {
		return runCLI(t, fakeRoot(h.deps(nil)), append(args, "--root", root)...)
	}

	out, _, code := cli("audit", "--ca", ca.file)
	if code != 1 || !strings.Contains(out, "missing") || !strings.Contains(out, "NOT compliant: 3 of 3 stores") {
		t.Fatalf("audit before install: exit %d\n%s", code, out)
	}

	out, _, code = cli("install", "--ca", ca.file, "--dry-run")
	if code != 0 || !strings.Contains(out, "would add") || !strings.Contains(out, "dry run") {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	if sys.writes+ff.writes+jv.writes != 0 {
		t.Fatal("dry run wrote to a store")
	}

	out, _, code = cli("install", "--ca", ca.file)
	if code != 0 || !strings.Contains(out, "3 stores changed") || !strings.Contains(out, `added "Corp Interception CA"`) {
		t.Fatalf("install: exit %d\n%s", code, out)
	}
	out, _, code = cli("install", "--ca", ca.file)
	if code != 0 || !strings.Contains(out, "nothing to do: every store already has the CA") || strings.Count(out, "already in place") != 3 {
		t.Fatalf("second install: exit %d\n%s", code, out)
	}
	if sys.writes != 1 || ff.writes != 1 || jv.writes != 1 {
		t.Fatalf("second install rewrote a store: %d %d %d", sys.writes, ff.writes, jv.writes)
	}
	out, _, code = cli("install", "--ca", ca.file, "--json")
	var co changeOutput
	if err := json.Unmarshal([]byte(out), &co); err != nil || code != 0 || co.Changed != 0 || len(co.Stores) != 3 || co.Stores[0].Status != "unchanged" {
		t.Fatalf("install --json: exit %d, %v\n%s", code, err, out)
	}

	out, _, code = cli("audit", "--ca", ca.file)
	if code != 0 || !strings.Contains(out, "compliant: 3 stores checked") {
		t.Fatalf("audit after install: exit %d\n%s", code, out)
	}

	// A user distrusts it in Firefox: untrusted, exit 1.
	ff.mu.Lock()
	for i := range ff.anchors {
		ff.anchors[i].TrustedServerAuth = false
	}
	ff.mu.Unlock()
	out, _, code = cli("audit", "--ca", ca.file, "--json")
	if code != 1 {
		t.Fatalf("audit with untrusted: exit %d\n%s", code, out)
	}
	var ao map[string]any
	if err := json.Unmarshal([]byte(out), &ao); err != nil {
		t.Fatal(err)
	}
	if ao["compliant"] != false {
		t.Fatalf("compliant = %v", ao["compliant"])
	}
	statuses := map[string]string{}
	for _, s := range ao["stores"].([]any) {
		m := s.(map[string]any)
		for _, k := range []string{"id", "kind", "path", "status", "detail"} {
			if _, ok := m[k]; !ok {
				t.Errorf("store %v lacks %q", m["id"], k)
			}
		}
		statuses[m["id"].(string)] = m["status"].(string)
	}
	if statuses[ff.info.ID] != "untrusted" || statuses[sys.info.ID] != "compliant" {
		t.Fatalf("statuses: %v", statuses)
	}
	// install fixes the trust.
	out, _, code = cli("install", "--ca", ca.file, "--stores", "nss")
	if code != 0 || !strings.Contains(out, "trust fixed for") || !strings.Contains(out, "1 store changed") {
		t.Fatalf("install fixing trust: exit %d\n%s", code, out)
	}

	// remove by SHA-256 with colons, upper case, from java only.
	out, _, code = cli("remove", "--sha256", fingerprintColons(stores.SHA256(ca.cert)), "--stores", "java")
	if code != 0 || !strings.Contains(out, "removed") || !strings.Contains(out, "1 store changed") {
		t.Fatalf("remove --sha256: exit %d\n%s", code, out)
	}
	out, _, code = cli("audit", "--ca", ca.file, "--wide") // whole store ids
	if code != 1 || !strings.Contains(out, jv.info.ID) || !strings.Contains(out, "NOT compliant: 1 of 3") {
		t.Fatalf("audit after remove from java: exit %d\n%s", code, out)
	}
	out, _, code = cli("remove", "--ca", ca.file)
	if code != 0 || !strings.Contains(out, "2 stores changed, 1 without it") {
		t.Fatalf("remove --ca: exit %d\n%s", code, out)
	}
	out, _, code = cli("remove", "--ca", ca.file)
	if code != 0 || !strings.Contains(out, "nothing to do: no store holds the CA") {
		t.Fatalf("second remove: exit %d\n%s", code, out)
	}
	if n := len(sys.anchors); n != 1 {
		t.Fatalf("remove touched the vendor root: %d anchors left", n)
	}
}

func TestFakeErrorsAndExitCodes(t *testing.T) {
	dir := t.TempDir()
	ca := makeCA(t, dir, "Corp CA", true)
	leaf := makeCA(t, dir, "www.example.com", false)
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("this is not a certificate"), 0o644)
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o644)

	good := newFake(stores.KindSystem, "/etc/ssl/certs/ca-certificates.crt")
	broken := newFake(stores.KindJava, "/opt/jdk/lib/security/cacerts")
	broken.listErr = errors.New("java keystore /opt/jdk/lib/security/cacerts: keystore password was incorrect: pass --java-password")
	broken.writeErr = broken.listErr
	legacy := newFake(stores.KindNSS, "/home/bob/.mozilla/firefox/old")
	legacy.info.Note = "legacy cert8.db: not supported"
	mixed := &fakeHost{stores: []*fakeStore{good, broken, legacy}}
	allBroken := &fakeHost{stores: []*fakeStore{broken}}
	empty := &fakeHost{}
	discFail := &fakeHost{stores: []*fakeStore{newFake(stores.KindSystem, "/etc/ssl/certs/ca-certificates.crt")},
		errs: []error{stores.DiscoverError{Kind: stores.KindNSS, Err: errors.New("read /home: permission denied")}}}

	tests := []struct {
		name     string
		host     *fakeHost
		args     []string
		code     int
		inOut    string // in stdout
		inErr    string // in stderr
		notInOut string
	}{
		{name: "audit without --ca", host: mixed, args: []string{"audit"}, code: 2, inErr: "--ca FILE"},
		{name: "install without --ca", host: mixed, args: []string{"install"}, code: 2, inErr: "--ca FILE"},
		{name: "remove without target", host: mixed, args: []string{"remove"}, code: 2, inErr: "--sha256 HEX"},
		{name: "bad CA file", host: mixed, args: []string{"audit", "--ca", garbage}, code: 2, inErr: garbage},
		{name: "missing CA file", host: mixed, args: []string{"install", "--ca", filepath.Join(dir, "nope.pem")}, code: 2, inErr: "no such file"},
		{name: "leaf refused", host: mixed, args: []string{"install", "--ca", leaf.file}, code: 2, inErr: "not a CA certificate"},
		{name: "bad sha256", host: mixed, args: []string{"remove", "--sha256", "abc"}, code: 2, inErr: "64 hex digits"},
		{name: "unknown kind", host: mixed, args: []string{"audit", "--ca", ca.file, "--stores", "system,floppy"}, code: 2, inErr: `unknown store kind "floppy"`},
		{name: "root not a dir", host: mixed, args: []string{"stores", "--root", notDir}, code: 2, inErr: "not a directory"},
		{name: "root missing", host: mixed, args: []string{"stores", "--root", filepath.Join(dir, "nope")}, code: 2, inErr: "no such file"},
		{name: "bad java password", host: mixed, args: []string{"stores", "--java-password", "cacerts"}, code: 2, inErr: "PATH=PASSWORD"},
		{name: "relative java path", host: mixed, args: []string{"stores", "--java-password", "cacerts=x"}, code: 2, inErr: "absolute"},
		{name: "stray argument", host: mixed, args: []string{"audit", "ca.pem"}, code: 2, inErr: "takes no arguments"},
		{name: "unknown flag", host: mixed, args: []string{"audit", "--frobnicate"}, code: 2, inErr: "unknown flag"},
		{name: "bad class", host: mixed, args: []string{"inventory", "--class", "evil"}, code: 2, inErr: `unknown class "evil"`},

		{name: "audit mixed: error stores listed", host: mixed, args: []string{"audit", "--ca", ca.file}, code: 1,
			inOut: "password was incorrect"},
		{name: "audit legacy note", host: mixed, args: []string{"audit", "--ca", ca.file}, code: 1, inOut: "legacy cert8.db"},
		{name: "audit nothing readable", host: allBroken, args: []string{"audit", "--ca", ca.file}, code: 2, inErr: "nothing was checked"},
		{name: "audit no stores", host: empty, args: []string{"audit", "--ca", ca.file}, code: 2, inErr: "no trust store found"},
		{name: "audit discovery failure", host: discFail, args: []string{"audit", "--ca", ca.file}, code: 1, inOut: "nss:(discovery)"},
		{name: "install mixed fails", host: mixed, args: []string{"install", "--ca", ca.file}, code: 1, inOut: "1 store changed, 2 failed"},
		{name: "install no stores", host: empty, args: []string{"install", "--ca", ca.file}, code: 2, inErr: "no trust store found"},
		{name: "remove broken store", host: allBroken, args: []string{"remove", "--ca", ca.file}, code: 1, inOut: "error: java keystore"},
		{name: "stores lists notes", host: mixed, args: []string{"stores"}, code: 0, inOut: "legacy cert8.db"},
		{name: "stores discovery failure", host: discFail, args: []string{"stores"}, code: 1, inErr: "permission denied"},
		{name: "inventory nothing readable", host: allBroken, args: []string{"inventory"}, code: 2, inErr: "no store could be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			hasRoot := false
			for _, a := range args {
				hasRoot = hasRoot || a == "--root"
			}
			if !hasRoot {
				args = append(args, "--root", dir)
			}
			out, errOut, code := runCLI(t, fakeRoot(tt.host.deps(nil)), args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
			if !strings.Contains(oneLine(out), tt.inOut) { // the table wraps at 80 columns
				t.Errorf("stdout lacks %q:\n%s", tt.inOut, out)
			}
			if !strings.Contains(errOut, tt.inErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.inErr, errOut)
			}
		})
	}
}

func TestFakeStoresJSON(t *testing.T) {
	dir := t.TempDir()
	s := newFake(stores.KindNSS, "/home/alice/.pki/nssdb")
	s.info.Owner, s.info.App = "alice", "chromium"
	out, _, code := runCLI(t, fakeRoot((&fakeHost{stores: []*fakeStore{s}}).deps(nil)), "stores", "--json", "--root", dir)
	var got struct {
		Root   string        `json:"root"`
		Stores []stores.Info `json:"stores"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s", code, err, out)
	}
	if got.Root != dir || len(got.Stores) != 1 || got.Stores[0] != s.info {
		t.Fatalf("got %+v", got)
	}
}

func TestFakeInventory(t *testing.T) {
	dir := t.TempDir()
	ours := makeCA(t, dir, "Corp CA", true)
	vendor := makeCA(t, dir, "Vendor Root", true)
	stranger := makeCA(t, dir, "Stranger Root", true)
	evil := makeCA(t, dir, "Evil Root", true)
	sys := newFake(stores.KindSystem, "/etc/ssl/certs/ca-certificates.crt")
	sys.anchors = []stores.Anchor{
		{Cert: vendor.cert, SHA256: stores.SHA256(vendor.cert), TrustedServerAuth: true, Vendor: true},
		stores.NewAnchor(ours.cert, stores.Label(ours.cert), true),
	}
	ff := newFake(stores.KindNSS, "/home/alice/.pki/nssdb")
	ff.anchors = []stores.Anchor{stores.NewAnchor(stranger.cert, "stranger", true), stores.NewAnchor(vendor.cert, "v", true)}
	h := &fakeHost{stores: []*fakeStore{sys, ff}}
	bl, err := policy.NewBlocklist(policy.BuiltinBlockedRoots(), []policy.BlockedRoot{{Name: "Evil Root", SPKI: stores.SPKIHash(evil.cert), Reason: "test-only entry"}})
	if err != nil {
		t.Fatal(err)
	}

	out, _, code := runCLI(t, fakeRoot(h.deps(bl)), "inventory", "--root", dir)
	if code != 0 || !strings.Contains(out, "3 anchors in 2 stores: 0 blocked, 1 unknown, 1 managed, 1 vendor") ||
		!strings.Contains(out, "unknown CN=Stranger Root") {
		t.Fatalf("inventory: exit %d\n%s", code, out)
	}

	// A blocked root appears: exit 1, and it is listed first.
	ff.anchors = append(ff.anchors, stores.NewAnchor(evil.cert, "evil", true))
	out, _, code = runCLI(t, fakeRoot(h.deps(bl)), "inventory", "--root", dir, "--ca", ours.file, "--json", "--class", "blocked,unknown")
	if code != 1 {
		t.Fatalf("inventory with blocked root: exit %d\n%s", code, out)
	}
	var inv struct {
		Summary map[string]int `json:"summary"`
		Stores  []struct {
			ID, Status string
			Anchors    int
		} `json:"stores"`
		Anchors []struct {
			SHA256, SPKI, Subject, Class, Reason string
			Stores                               []struct{ ID string }
		} `json:"anchors"`
	}
	if err := json.Unmarshal([]byte(out), &inv); err != nil {
		t.Fatal(err)
	}
	if inv.Summary["blocked"] != 1 || inv.Summary["vendor"] != 1 || inv.Summary["managed"] != 1 || len(inv.Anchors) != 2 {
		t.Fatalf("summary %v, %d anchors shown", inv.Summary, len(inv.Anchors))
	}
	if a := inv.Anchors[0]; a.Class != "blocked" || !strings.Contains(a.Reason, "public key") || a.SPKI != stores.SPKIHash(evil.cert) || a.Stores[0].ID != ff.info.ID {
		t.Fatalf("first anchor %+v", a)
	}
	if len(inv.Stores) != 2 || inv.Stores[1].Anchors != 3 || inv.Stores[1].Status != "ok" {
		t.Fatalf("stores %+v", inv.Stores)
	}
	// The built-in list alone does not block the test root.
	_, _, code = runCLI(t, fakeRoot(h.deps(nil)), "inventory", "--root", dir)
	if code != 0 {
		t.Fatalf("built-in blocklist blocked a fresh root: exit %d", code)
	}
}

func TestParseJavaPasswords(t *testing.T) {
	got, err := parseJavaPasswords([]string{"/etc/ssl/certs/java/../java/cacerts=a=b", "/opt/jdk/lib/security/cacerts="})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["/etc/ssl/certs/java/cacerts"] != "a=b" || got["/opt/jdk/lib/security/cacerts"] != "" {
		t.Fatalf("got %q", got)
	}
	for _, bad := range []string{"", "=x", "cacerts=x", "/no/equals/sign"} {
		if _, err := parseJavaPasswords([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if m, err := parseJavaPasswords(nil); m != nil || err != nil {
		t.Errorf("nil: %v %v", m, err)
	}
	// A refused value never echoes the password (errors reach logs).
	for _, bad := range []string{"relative/cacerts=S3cretPw", "S3cretPw", "=S3cretPw"} {
		_, err := parseJavaPasswords([]string{bad})
		if err == nil || strings.Contains(err.Error(), "S3cretPw") {
			t.Errorf("%q: error %v shows the password", bad, err)
		}
	}
}
