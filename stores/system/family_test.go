package system

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDetectFamily(t *testing.T) {
	tests := []struct {
		fixture string // testdata/os-release/<fixture>; its first line names the release
		id      string
		family  string // "" = unknown
	}{
		{"debian-12", "debian", "debian"},
		{"ubuntu-24.04", "ubuntu", "debian"},
		{"linuxmint-21.3", "linuxmint", "debian"},
		{"rhel-9.4", "rhel", "rhel"},
		{"fedora-40", "fedora", "rhel"},
		{"centos-stream-9", "centos", "rhel"},
		{"rocky-9.3", "rocky", "rhel"},
		{"amzn-2023", "amzn", "rhel"},
		{"opensuse-leap-15.6", "opensuse-leap", "suse"},
		{"opensuse-tumbleweed", "opensuse-tumbleweed", "suse"},
		{"sles-15-sp5", "sles", "suse"},
		{"arch", "arch", "arch"},
		{"manjaro-23", "manjaro", "arch"},
		{"alpine-3.20", "alpine", "alpine"},
		{"gentoo", "gentoo", ""},
		{"nixos-24.05", "nixos", ""},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "os-release", tt.fixture))
			if err != nil {
				t.Fatal(err)
			}
			r := ParseOSRelease(data)
			if r.ID != tt.id {
				t.Errorf("ID = %q, want %q", r.ID, tt.id)
			}
			f, err := DetectFamily(r)
			if tt.family == "" {
				if err == nil || !strings.Contains(err.Error(), `ID="`+tt.id+`"`) {
					t.Fatalf("DetectFamily = %q, %v; want an error naming ID %q", f.Name, err, tt.id)
				}
				return
			}
			if err != nil || f.Name != tt.family {
				t.Fatalf("DetectFamily = %q, %v; want %q", f.Name, err, tt.family)
			}
		})
	}
}

func TestParseOSReleaseQuoting(t *testing.T) {
	r := ParseOSRelease([]byte("# comment\n\nID='weird'\nID_LIKE=\"Suse  OpenSUSE\"\nPRETTY_NAME=\"A \\\"quoted\\\" name\"\nnot an assignment\n=novalue\n"))
	if r.ID != "weird" || strings.Join(r.IDLike, ",") != "suse,opensuse" || r.Pretty != `A "quoted" name` {
		t.Fatalf("%+v", r)
	}
	if f, err := DetectFamily(r); err != nil || f.Name != "suse" {
		t.Fatalf("ID_LIKE fallback: %q %v", f.Name, err)
	}
}

func TestFamilyTable(t *testing.T) {
	for _, f := range Families() {
		if f.AnchorsDir == "" || f.Bundle == "" || len(f.Refresh) == 0 {
			t.Errorf("%s: incomplete entry %+v", f.Name, f)
		}
		if f.P11Kit == (f.CertsConf != "") {
			t.Errorf("%s: a family uses either p11-kit or ca-certificates.conf", f.Name)
		}
		g, ok := FamilyNamed(f.Name)
		if !ok || g.Bundle != f.Bundle {
			t.Errorf("FamilyNamed(%q) = %+v, %v", f.Name, g, ok)
		}
	}
	// Families returns fresh values: changing one does not change the table.
	fs := Families()
	fs[0].Blocklists = append(fs[0].Blocklists, "/x")
	fs[2].Blocklists[0] = "/changed"
	if g, _ := FamilyNamed("rhel"); g.Blocklists[0] == "/changed" {
		t.Error("Families shares its slices")
	}
}

func FuzzParseOSRelease(f *testing.F) {
	f.Add([]byte("ID=debian\n"))
	f.Add([]byte("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n"))
	f.Add([]byte("ID='x\nID_LIKE=\"\\\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := ParseOSRelease(data)
		_, _ = DetectFamily(r)
	})
}
