package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/nss/nsstest"
	"github.com/anchorwatch/anchorwatch/stores/system/systemtest"
)

// cli runs the real command line (newRootCmd, every adapter of this
// platform) on the workstation's root.
func (w *workstation) cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runCLI(t, newRootCmd(), append(args, "--root", w.root)...)
}

// snapshot hashes every regular file under root, so a test can prove a
// command wrote nothing.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		out[p] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffSnapshots(a, b map[string]string) []string {
	var d []string
	for p, h := range a {
		if b[p] != h {
			d = append(d, p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			d = append(d, p)
		}
	}
	sort.Strings(d)
	return d
}

type auditJSON struct {
	Compliant bool `json:"compliant"`
	Stores    []struct {
		ID, Kind, Path, Status, Detail string
	} `json:"stores"`
}

func parseAudit(t *testing.T, out string) (auditJSON, map[string]string) {
	t.Helper()
	var a auditJSON
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, out)
	}
	st := map[string]string{}
	for _, s := range a.Stores {
		st[s.ID] = s.Status
	}
	return a, st
}

// TestHostCommandsRealStores drives the whole host CLI against a sandbox
// workstation built with the real tools, and checks every step with the
// real tools too (openssl verify, certutil, keytool).
func TestHostCommandsRealStores(t *testing.T) {
	w := newWorkstation(t)
	kt := keytool(t)
	leaf := systemtest.Leaf(t, w.ca, w.caKey, "intranet.example")
	bundle := filepath.Join(w.root, systemtest.DebianBundle)
	fp := stores.SHA256(w.ca)
	label := stores.Label(w.ca)
	jks := filepath.Join(w.root, "etc/ssl/certs/java/cacerts")
	ids := []string{
		"java:/etc/ssl/certs/java/cacerts",
		"java:/usr/lib/jvm/temurin-25-jdk-amd64/lib/security/cacerts",
		"nss:" + w.firefox,
		"nss:" + w.chromium,
		"system:" + systemtest.DebianBundle,
	}

	// stores: every store, with kind, format and owner.
	out, errOut, code := w.cli(t, "stores", "--json")
	if code != 0 {
		t.Fatalf("stores: exit %d\n%s%s", code, out, errOut)
	}
	var so storesOutput
	if err := json.Unmarshal([]byte(out), &so); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range so.Stores {
		got = append(got, s.ID)
		if s.Kind == stores.KindNSS && s.Owner != "alice" {
			t.Errorf("%s: owner %q, want alice", s.ID, s.Owner)
		}
	}
	if strings.Join(got, "\n") != strings.Join(ids, "\n") {
		t.Fatalf("stores found:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(ids, "\n"))
	}

	// audit before install: every store is missing the CA.
	out, _, code = w.cli(t, "audit", "--ca", w.caFile, "--json")
	a, st := parseAudit(t, out)
	if code != 1 || a.Compliant || len(st) != len(ids) {
		t.Fatalf("audit before install: exit %d\n%s", code, out)
	}
	for _, id := range ids {
		if st[id] != "missing" {
			t.Errorf("before install %s is %q, want missing", id, st[id])
		}
	}
	if err := systemtest.Verify(bundle, leaf); err == nil {
		t.Fatal("openssl accepts the leaf before the CA is installed")
	}

	// dry run writes nothing.
	before := snapshot(t, w.root)
	out, _, code = w.cli(t, "install", "--ca", w.caFile, "--dry-run")
	if code != 0 || !strings.Contains(out, "would add") {
		t.Fatalf("install --dry-run: exit %d\n%s", code, out)
	}
	if d := diffSnapshots(before, snapshot(t, w.root)); len(d) > 0 {
		t.Fatalf("dry run changed files: %v", d)
	}

	// install, then install again: the second run changes nothing.
	out, errOut, code = w.cli(t, "install", "--ca", w.caFile)
	if code != 0 || !strings.Contains(out, "5 stores changed") {
		t.Fatalf("install: exit %d\n%s%s", code, out, errOut)
	}
	before = snapshot(t, w.root)
	out, _, code = w.cli(t, "install", "--ca", w.caFile)
	if code != 0 || !strings.Contains(out, "nothing to do: every store already has the CA") {
		t.Fatalf("second install: exit %d\n%s", code, out)
	}
	if d := diffSnapshots(before, snapshot(t, w.root)); len(d) > 0 {
		t.Fatalf("second install rewrote files: %v", d)
	}

	// The real tools agree the CA is in place and trusted.
	if err := systemtest.Verify(bundle, leaf); err != nil {
		t.Fatalf("openssl rejects the leaf after install: %v", err)
	}
	for _, db := range []string{w.firefox, w.chromium} {
		if tr := nsstest.Trust(t, w.root, db, label); !strings.HasPrefix(tr, "C") {
			t.Errorf("certutil: %s trust in %s is %q, want C,,", label, db, tr)
		}
	}
	if o, err := exec.Command(kt, "-list", "-keystore", jks, "-storepass", "changeit", "-alias", label).CombinedOutput(); err != nil {
		t.Errorf("keytool -list -alias %s: %v\n%s", label, err, o)
	}

	out, _, code = w.cli(t, "audit", "--ca", w.caFile, "--json")
	if a, _ = parseAudit(t, out); code != 0 || !a.Compliant {
		t.Fatalf("audit after install: exit %d\n%s", code, out)
	}

	// A user deletes it from Firefox and from Debian's Java store with the
	// real tools: audit shows exactly that drift.
	nsstest.Run(t, nil, "-D", "-d", "sql:"+filepath.Join(w.root, w.firefox), "-n", label)
	if o, err := exec.Command(kt, "-delete", "-keystore", jks, "-storepass", "changeit", "-alias", label).CombinedOutput(); err != nil {
		t.Fatalf("keytool -delete: %v\n%s", err, o)
	}
	out, _, code = w.cli(t, "audit", "--ca", w.caFile, "--json")
	a, st = parseAudit(t, out)
	if code != 1 || a.Compliant {
		t.Fatalf("audit after drift: exit %d\n%s", code, out)
	}
	want := map[string]string{ids[0]: "missing", ids[1]: "compliant", ids[2]: "missing", ids[3]: "compliant", ids[4]: "compliant"}
	for id, s := range want {
		if st[id] != s {
			t.Errorf("after drift %s is %q, want %q", id, st[id], s)
		}
	}

	// install heals only what drifted.
	out, _, code = w.cli(t, "install", "--ca", w.caFile)
	if code != 0 || !strings.Contains(out, "2 stores changed, 3 already in place") {
		t.Fatalf("healing install: exit %d\n%s", code, out)
	}

	// inventory: ours is managed, the Mozilla set vendor.
	out, _, code = w.cli(t, "inventory", "--ca", w.caFile, "--json")
	var inv inventoryOutput
	if err := json.Unmarshal([]byte(out), &inv); err != nil || code != 0 {
		t.Fatalf("inventory: exit %d, %v\n%s", code, err, out)
	}
	if inv.Summary["managed"] != 1 || inv.Summary["vendor"] < 100 || inv.Summary["blocked"] != 0 {
		t.Errorf("inventory summary %v", inv.Summary)
	}
	for _, e := range inv.Anchors {
		if e.SHA256 == fp && (e.Class != "managed" || len(e.Stores) != 5) {
			t.Errorf("our CA: class %s in %d stores", e.Class, len(e.Stores))
		}
	}
	// Without --ca, our CA is still recognised by its anchorwatch- label.
	out, _, _ = w.cli(t, "inventory", "--json", "--class", "managed")
	if err := json.Unmarshal([]byte(out), &inv); err != nil || len(inv.Anchors) != 1 || inv.Anchors[0].SHA256 != fp {
		t.Errorf("inventory --class managed without --ca: %v\n%s", err, out)
	}

	// remove by SHA-256 (colons, upper case) from the NSS stores only,
	// then by file from all.
	out, _, code = w.cli(t, "remove", "--sha256", fingerprintColons(fp), "--stores", "nss")
	if code != 0 || !strings.Contains(out, "2 stores changed") {
		t.Fatalf("remove --sha256 --stores nss: exit %d\n%s", code, out)
	}
	for _, db := range []string{w.firefox, w.chromium} {
		if tr := nsstest.Trust(t, w.root, db, label); tr != "" {
			t.Errorf("certutil still lists %s in %s (%s)", label, db, tr)
		}
	}
	out, _, code = w.cli(t, "remove", "--ca", w.caFile)
	if code != 0 || !strings.Contains(out, "3 stores changed, 2 without it") {
		t.Fatalf("remove --ca: exit %d\n%s", code, out)
	}
	if err := systemtest.Verify(bundle, leaf); err == nil {
		t.Fatal("openssl still accepts the leaf after remove")
	}
	out, _, code = w.cli(t, "audit", "--ca", w.caFile, "--json")
	a, st = parseAudit(t, out)
	for _, id := range ids {
		if st[id] != "missing" {
			t.Errorf("after remove %s is %q, want missing", id, st[id])
		}
	}
	if code != 1 {
		t.Fatalf("audit after remove: exit %d", code)
	}
}

// TestHostCommandsRealUsageErrors: bad input on a real root exits 2 with
// the reason and leaves every store untouched.
func TestHostCommandsRealUsageErrors(t *testing.T) {
	w := newWorkstation(t)
	leaf := filepath.Join(t.TempDir(), "leaf.pem")
	if err := os.WriteFile(leaf, systemtest.Leaf(t, w.ca, w.caKey, "www.example.com"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bad, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, w.root)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"install", "--ca", leaf}, "not a CA certificate"},
		{[]string{"install", "--ca", bad}, bad},
		{[]string{"install", "--ca", w.caFile, "--stores", "nss,token"}, `unknown store kind "token"`},
		{[]string{"audit", "--ca", leaf}, "give the issuing CA"},
		{[]string{"remove", "--sha256", "12:34"}, "64 hex digits"},
		{[]string{"audit"}, "--ca FILE"},
	}
	for _, tt := range tests {
		out, errOut, code := w.cli(t, tt.args...)
		if code != 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q (want 2 and %q)\n%s", tt.args, code, errOut, tt.want, out)
		}
	}
	if d := diffSnapshots(before, snapshot(t, w.root)); len(d) > 0 {
		t.Fatalf("usage errors changed files: %v", d)
	}
	// A --java-password for a keystore with another password makes that
	// store an error, reported, not skipped; the others are still checked.
	out, _, code := w.cli(t, "audit", "--ca", w.caFile, "--json", "--java-password", "/etc/ssl/certs/java/cacerts=wrong")
	_, st := parseAudit(t, out)
	if code != 1 || st["java:/etc/ssl/certs/java/cacerts"] != "error" || st["system:"+systemtest.DebianBundle] != "missing" {
		t.Fatalf("wrong java password: exit %d\n%s", code, out)
	}
}
