package firefox

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// decode returns policies.json as generic JSON.
func decode(t *testing.T, p string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s is not JSON after our write: %v\n%s", p, err, b)
	}
	return m
}

func TestInstallMergesWithAdminPolicies(t *testing.T) {
	root := t.TempDir()
	admin, _ := os.ReadFile(filepath.Join("testdata", "policies-admin.json"))
	hp := filepath.Join(root, "etc/firefox/policies/policies.json")
	writeFile(t, hp, admin)
	if err := os.Chmod(hp, 0o640); err != nil {
		t.Fatal(err)
	}
	legacy := testpki.NewCA(t, "Legacy admin CA").Cert
	testpki.WritePEM(t, filepath.Join(root, "usr/local/share/corp/legacy-ca.pem"), legacy)
	partner := testpki.NewCA(t, "Partner CA").Cert
	testpki.WriteDER(t, filepath.Join(root, "usr/lib/mozilla/certificates/partner.der"), partner)

	s := New(Config{Path: SystemPolicyPath, Mode: ModeInstall, SearchDirs: []string{"/usr/lib/mozilla/certificates"}}, stores.Env{Root: root})
	ours := testpki.NewCA(t, "Anchorwatch Corp CA").Cert
	ctx := context.Background()

	before := decode(t, hp)
	// A dry run writes nothing.
	if ch, err := s.Install(ctx, []*x509.Certificate{ours}, stores.Options{DryRun: true}); err != nil || ch[0].Action != stores.ActionAdded {
		t.Fatalf("dry run: %v %v", ch, err)
	}
	if !reflect.DeepEqual(decode(t, hp), before) {
		t.Fatal("dry run changed policies.json")
	}

	ch, err := s.Install(ctx, []*x509.Certificate{ours}, stores.Options{})
	if err != nil || len(ch) != 1 || ch[0].Action != stores.ActionAdded {
		t.Fatalf("install: %v %v", ch, err)
	}
	after := decode(t, hp)
	pol := after["policies"].(map[string]any)
	certs := pol["Certificates"].(map[string]any)
	wantInstall := []any{"/usr/local/share/corp/legacy-ca.pem", "partner.der", "/etc/firefox/policies/" + stores.Label(ours) + ".pem"}
	if !reflect.DeepEqual(certs["Install"], wantInstall) {
		t.Fatalf("Install = %v, want %v", certs["Install"], wantInstall)
	}
	// Every other key of the administrator is kept as it was.
	bpol := before["policies"].(map[string]any)
	for _, k := range []string{"DisableTelemetry", "Homepage", "ExtensionSettings"} {
		if !reflect.DeepEqual(pol[k], bpol[k]) {
			t.Errorf("policies.%s changed: %v -> %v", k, bpol[k], pol[k])
		}
	}
	if certs["ImportEnterpriseRoots"] != false || after["x-admin-note"] != "managed by Puppet" {
		t.Errorf("admin keys lost: %v", after)
	}
	if fi, _ := os.Stat(hp); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the original 0640 kept", fi.Mode().Perm())
	}
	// The PEM is where Certificates.Install points.
	b, err := os.ReadFile(filepath.Join(root, "etc/firefox/policies", stores.Label(ours)+".pem"))
	if err != nil || string(b) != string(testpki.PEM(ours)) {
		t.Fatalf("CA file: %v", err)
	}

	// List: ours and the admin's CAs are trusted; audit is compliant.
	as, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := stores.Check(s.Info(), as, []*x509.Certificate{ours, legacy, partner}); r.Status != stores.StatusCompliant {
		t.Fatalf("audit: %s %s", r.Status, r.Detail)
	}

	// Idempotent: no rewrite.
	st1, _ := os.Stat(hp)
	if ch, err := s.Install(ctx, []*x509.Certificate{ours}, stores.Options{}); err != nil || ch[0].Action != stores.ActionUnchanged {
		t.Fatalf("second install: %v %v", ch, err)
	}
	if st2, _ := os.Stat(hp); !st2.ModTime().Equal(st1.ModTime()) {
		t.Error("second install rewrote policies.json")
	}

	// A deleted CA file is healed.
	os.Remove(filepath.Join(root, "etc/firefox/policies", stores.Label(ours)+".pem"))
	if r := stores.Check(s.Info(), mustList(t, s), []*x509.Certificate{ours}); r.Status != stores.StatusMissing {
		t.Fatalf("audit with the CA file gone: %s", r.Status)
	}
	if ch, err := s.Install(ctx, []*x509.Certificate{ours}, stores.Options{}); err != nil || ch[0].Action != stores.ActionTrusted {
		t.Fatalf("heal: %v %v", ch, err)
	}

	// Remove takes ours out, keeps the admin's entries and files.
	ch, err = s.Remove(ctx, []string{stores.SHA256(ours)}, stores.Options{})
	if err != nil || ch[0].Action != stores.ActionRemoved {
		t.Fatalf("remove: %v %v", ch, err)
	}
	certs = decode(t, hp)["policies"].(map[string]any)["Certificates"].(map[string]any)
	if !reflect.DeepEqual(certs["Install"], wantInstall[:2]) {
		t.Fatalf("Install after remove = %v", certs["Install"])
	}
	if _, err := os.Stat(filepath.Join(root, "etc/firefox/policies", stores.Label(ours)+".pem")); !errors.Is(err, os.ErrNotExist) {
		t.Error("our CA file left behind")
	}
	// Removing an admin's CA takes it out of the policy but never deletes their file.
	if _, err := s.Remove(ctx, []string{stores.SHA256(legacy)}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/local/share/corp/legacy-ca.pem")); err != nil {
		t.Error("an administrator's CA file was deleted")
	}
}

func mustList(t *testing.T, s *Store) []stores.Anchor {
	as, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func TestInstallCreatesPolicies(t *testing.T) {
	root := t.TempDir()
	s := New(Config{Path: SystemPolicyPath, Mode: ModeInstall}, stores.Env{Root: root})
	ca := testpki.NewCA(t, "Fresh").Cert
	if _, err := s.Install(context.Background(), []*x509.Certificate{ca}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	got := decode(t, filepath.Join(root, "etc/firefox/policies/policies.json"))
	want := map[string]any{"policies": map[string]any{"Certificates": map[string]any{"Install": []any{"/etc/firefox/policies/" + stores.Label(ca) + ".pem"}}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestBadPoliciesAreLeftUntouched(t *testing.T) {
	tests := []struct{ name, in string }{
		{"not json", `{"policies": `},
		{"array", `[]`},
		{"null", `null`},
		{"policies not object", `{"policies": []}`},
		{"certificates not object", `{"policies": {"Certificates": "yes"}}`},
		{"install not array", `{"policies": {"Certificates": {"Install": "/a.pem"}}}`},
		{"install not strings", `{"policies": {"Certificates": {"Install": [1]}}}`},
		{"install null", `{"policies": {"Certificates": {"Install": null}}}`},
		{"enterprise not bool", `{"policies": {"Certificates": {"ImportEnterpriseRoots": "true"}}}`},
		{"duplicate key", `{"policies": {}, "policies": {}}`},
		{"trailing data", `{"policies": {}} {}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			hp := filepath.Join(root, "etc/firefox/policies/policies.json")
			writeFile(t, hp, []byte(tc.in))
			s := New(Config{Path: SystemPolicyPath, Mode: ModeInstall}, stores.Env{Root: root})
			if _, err := s.Install(context.Background(), []*x509.Certificate{testpki.NewCA(t, "x").Cert}, stores.Options{}); !errors.Is(err, ErrBadPolicies) {
				t.Fatalf("error %v, want ErrBadPolicies", err)
			}
			if b, _ := os.ReadFile(hp); string(b) != tc.in {
				t.Fatal("file changed")
			}
			ents, _ := os.ReadDir(filepath.Dir(hp))
			if len(ents) != 1 {
				t.Fatalf("left files behind: %v", ents)
			}
		})
	}
}

// fakeOS is an OS store for ImportEnterpriseRoots mode.
type fakeOS struct{ anchors []stores.Anchor }

func (f fakeOS) Info() stores.Info                             { return stores.Info{ID: "windows:LocalMachine\\ROOT"} }
func (f fakeOS) List(context.Context) ([]stores.Anchor, error) { return f.anchors, nil }
func (f fakeOS) Watch() stores.WatchSpec                       { return stores.WatchSpec{} }
func (f fakeOS) Remove(context.Context, []string, stores.Options) ([]stores.Change, error) {
	return nil, nil
}
func (f fakeOS) Install(context.Context, []*x509.Certificate, stores.Options) ([]stores.Change, error) {
	return nil, nil
}

func TestEnterpriseRoots(t *testing.T) {
	ca := testpki.NewCA(t, "Corp CA").Cert
	osStore := fakeOS{anchors: []stores.Anchor{stores.NewAnchor(ca, "Corp CA", true)}}
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		existing string
		reg      func() (bool, bool, error)
		status   stores.Status // audit before Install
		action   string        // Install's action ("" = error)
		after    stores.Status
	}{
		{"no policy", "", nil, stores.StatusUntrusted, stores.ActionTrusted, stores.StatusCompliant},
		{"json off", `{"policies":{"Certificates":{"ImportEnterpriseRoots":false},"DisableAppUpdate":true}}`, nil, stores.StatusUntrusted, stores.ActionTrusted, stores.StatusCompliant},
		{"json on", `{"policies":{"Certificates":{"ImportEnterpriseRoots":true}}}`, nil, stores.StatusCompliant, stores.ActionUnchanged, stores.StatusCompliant},
		{"registry on wins", `{"policies":{"Certificates":{"ImportEnterpriseRoots":false}}}`, func() (bool, bool, error) { return true, true, nil }, stores.StatusCompliant, stores.ActionUnchanged, stores.StatusCompliant},
		{"registry off: not fought", ``, func() (bool, bool, error) { return false, true, nil }, stores.StatusUntrusted, "", stores.StatusUntrusted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "distribution", "policies.json")
			if tc.existing != "" {
				writeFile(t, p, []byte(tc.existing))
			}
			s := New(Config{Path: p, Mode: ModeEnterpriseRoots, OS: osStore, Registry: tc.reg, Native: true}, stores.Env{})
			if r := stores.Check(s.Info(), mustList(t, s), []*x509.Certificate{ca}); r.Status != tc.status {
				t.Fatalf("audit before: %s, want %s", r.Status, tc.status)
			}
			ch, err := s.Install(ctx, []*x509.Certificate{ca}, stores.Options{})
			if tc.action == "" {
				if err == nil || !strings.Contains(err.Error(), "Group Policy") {
					t.Fatalf("install against a GPO that turns it off: %v", err)
				}
				if _, statErr := os.Stat(p); !errors.Is(statErr, os.ErrNotExist) {
					t.Fatal("wrote policies.json anyway")
				}
			} else if err != nil || ch[0].Action != tc.action {
				t.Fatalf("install: %v %v, want %s", ch, err, tc.action)
			}
			if r := stores.Check(s.Info(), mustList(t, s), []*x509.Certificate{ca}); r.Status != tc.after {
				t.Fatalf("audit after: %s, want %s", r.Status, tc.after)
			}
			if tc.existing != "" && tc.action != "" {
				var m map[string]map[string]any
				b, _ := os.ReadFile(p)
				json.Unmarshal(b, &m)
				if strings.Contains(tc.existing, "DisableAppUpdate") && m["policies"]["DisableAppUpdate"] != true {
					t.Fatal("merge dropped DisableAppUpdate")
				}
			}
		})
	}
}

func FuzzParsePolicies(f *testing.F) {
	b, _ := os.ReadFile(filepath.Join("testdata", "policies-admin.json"))
	f.Add(b)
	f.Add([]byte(`{"policies":{"Certificates":{"Install":[]}}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParsePolicies(in)
		if err != nil {
			return
		}
		p.AddInstall("/etc/firefox/policies/anchorwatch-0000000000000000.pem")
		p.SetImportEnterpriseRoots(true)
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("marshal of a parsed document: %v", err)
		}
		q, err := ParsePolicies(out)
		if err != nil {
			t.Fatalf("our output does not parse: %v\n%s", err, out)
		}
		if len(q.Install()) != len(p.Install()) {
			t.Fatal("Install lost in round trip")
		}
	})
}

func BenchmarkMergeInstall(b *testing.B) {
	in, _ := os.ReadFile(filepath.Join("testdata", "policies-admin.json"))
	for i := 0; i < b.N; i++ {
		p, err := ParsePolicies(in)
		if err != nil {
			b.Fatal(err)
		}
		p.AddInstall("/etc/firefox/policies/anchorwatch-0123456789abcdef.pem")
		if _, err := p.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}
