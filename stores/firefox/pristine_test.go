package firefox

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

// listTree returns every path under dir (relative), for "nothing left
// behind" checks.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// An administrator's policies.json, with their own formatting, comes back
// byte-identical after install and remove, and nothing else is left.
func TestRemoveRestoresTheAdminsFile(t *testing.T) {
	root := t.TempDir()
	admin := "{\"policies\":{ \"DisableTelemetry\" : true,\n\t\"Certificates\": {\"Install\": []}}, \"z\": 1}\n"
	hp := filepath.Join(root, "usr/lib/firefox-esr/distribution/policies.json")
	writeFile(t, hp, []byte(admin))
	before := listTree(t, root)
	s := New(Config{Path: "/usr/lib/firefox-esr/distribution/policies.json", Mode: ModeInstall}, stores.Env{Root: root})
	ca := testpki.NewCA(t, "Restore CA").Cert
	ctx := context.Background()
	if _, err := s.Install(ctx, []*x509.Certificate{ca}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(hp); string(b) == admin || !strings.Contains(string(b), stores.Label(ca)) {
		t.Fatalf("install did not write the policy: %s", b)
	}
	if _, err := s.Remove(ctx, []string{stores.SHA256(ca)}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(hp); string(b) != admin {
		t.Fatalf("after remove:\n%q\nwant the original\n%q", b, admin)
	}
	if after := listTree(t, root); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("files after remove %v, before install %v", after, before)
	}
}

// An administrator who edits the file while our CA is in it keeps the
// edit; our entry goes.
func TestRemoveKeepsLaterAdminEdits(t *testing.T) {
	root := t.TempDir()
	hp := filepath.Join(root, "etc/firefox/policies/policies.json")
	writeFile(t, hp, []byte(`{"policies": {"DisableTelemetry": true}}`))
	s := New(Config{Path: SystemPolicyPath, Mode: ModeInstall}, stores.Env{Root: root})
	ca := testpki.NewCA(t, "Edit CA").Cert
	ctx := context.Background()
	if _, err := s.Install(ctx, []*x509.Certificate{ca}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(hp)
	writeFile(t, hp, []byte(strings.Replace(string(b), `"DisableTelemetry": true`, `"DisableTelemetry": true, "DisablePocket": true`, 1)))
	if _, err := s.Remove(ctx, []string{stores.SHA256(ca)}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	got := decode(t, hp)["policies"].(map[string]any)
	if got["DisablePocket"] != true || got["DisableTelemetry"] != true || got["Certificates"] != nil {
		t.Fatalf("after remove: %v", got)
	}
	if left := listTree(t, filepath.Dir(hp)); strings.Join(left, ",") != "policies.json" {
		t.Fatalf("left in the policy directory: %v", left)
	}
}

// A policies.json Install created is deleted with the directories it
// made when the last of our CAs goes; the emptied file an earlier
// version left behind is deleted too.
func TestRemoveLeavesNoFileThatWasNotThere(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := New(Config{Path: SystemPolicyPath, Mode: ModeInstall}, stores.Env{Root: root})
	a, b := testpki.NewCA(t, "First").Cert, testpki.NewCA(t, "Second").Cert
	ctx := context.Background()
	if _, err := s.Install(ctx, []*x509.Certificate{a, b}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove(ctx, []string{stores.SHA256(a)}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/firefox/policies/policies.json")); err != nil {
		t.Fatalf("removing one of two CAs deleted the policy: %v", err)
	}
	if _, err := s.Remove(ctx, []string{stores.SHA256(b)}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	if left := listTree(t, filepath.Join(root, "etc")); len(left) != 0 {
		t.Fatalf("left under /etc: %v", left)
	}

	writeFile(t, filepath.Join(root, "etc/firefox/policies/policies.json"), []byte(legacyEmpty))
	if _, err := s.Remove(ctx, []string{stores.SHA256(b)}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/firefox/policies/policies.json")); !os.IsNotExist(err) {
		t.Fatalf("the emptied policies.json an earlier version left is still there: %v", err)
	}
	writeFile(t, filepath.Join(root, "etc/firefox/policies/policies.json"), []byte(`{"policies": {}}`))
	s.Remove(ctx, []string{stores.SHA256(b)}, stores.Options{})
	if _, err := os.Stat(filepath.Join(root, "etc/firefox/policies/policies.json")); err != nil {
		t.Fatalf("an empty policy an administrator wrote was deleted: %v", err)
	}
}
