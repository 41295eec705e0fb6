package appstore

import (
	"strings"
	"testing"
)

func TestParseINI(t *testing.T) {
	data := []byte("\xef\xbb\xbf; pip\n[global]\ncert = /etc/corp/ca.pem ; comment\ntimeout: 60\n" +
		"[http \"https://git.corp/\"]\n\tsslCAInfo = \"/opt/a b.pem\"\n[http]\nsslcainfo=~/x.pem # c\n[profile dev]\nca_bundle = C:\\corp\\ca.pem\n")
	ss := ParseINI(data)
	for _, tc := range []struct{ sec, sub, key, want string }{
		{"global", "", "cert", "/etc/corp/ca.pem"},
		{"global", "", "timeout", "60"},
		{"http", "https://git.corp/", "sslcainfo", "/opt/a b.pem"},
		{"http", "", "sslcainfo", "~/x.pem"},
		{"profile", "dev", "ca_bundle", `C:\corp\ca.pem`},
	} {
		s, ok := Lookup(ss, tc.sec, tc.sub, tc.key)
		if !ok || s.Value != tc.want {
			t.Errorf("[%s %q] %s = %q (%v), want %q", tc.sec, tc.sub, tc.key, s.Value, ok, tc.want)
		}
	}
}

func TestEnvironmentEdits(t *testing.T) {
	orig := "# keep\nLANG=C.UTF-8\nexport PATH=\"/usr/bin\"\n"
	set := SetEnv([]byte(orig), "NODE_EXTRA_CA_CERTS", "/etc/ssl/anchorwatch/x.pem", "why")
	vars := ParseEnvironment(set, "/etc/environment")
	if v, ok := GetEnv(vars, "NODE_EXTRA_CA_CERTS"); !ok || v.Value != "/etc/ssl/anchorwatch/x.pem" {
		t.Fatalf("after SetEnv: %q", set)
	}
	if v, _ := GetEnv(vars, "PATH"); v.Value != "/usr/bin" {
		t.Errorf("PATH %q", v.Value)
	}
	if !strings.HasPrefix(string(set), orig) {
		t.Errorf("SetEnv changed other lines: %q", set)
	}
	if again := SetEnv(set, "NODE_EXTRA_CA_CERTS", "/etc/ssl/anchorwatch/x.pem", "why"); string(again) != string(set) {
		t.Errorf("SetEnv is not idempotent: %q", again)
	}
	if back := UnsetEnv(set, "NODE_EXTRA_CA_CERTS"); string(back) != orig {
		t.Errorf("UnsetEnv: %q, want %q", back, orig)
	}
	twice := SetEnv([]byte("A=1\nNODE_EXTRA_CA_CERTS=/a\nB=2\nNODE_EXTRA_CA_CERTS=/b\n"), "NODE_EXTRA_CA_CERTS", "/c", "why")
	if string(twice) != "A=1\nB=2\nNODE_EXTRA_CA_CERTS=/c\n" {
		t.Errorf("SetEnv over two assignments: %q", twice)
	}
}

func TestConfigPath(t *testing.T) {
	for in, want := range map[string]string{
		"/etc/x.pem":           "/etc/x.pem",
		`C:\Program Files\x`:   "/Program Files/x",
		"c:/x/../y.pem":        "/y.pem",
		"~/ca.pem":             "/home/a/ca.pem",
		"relative.pem":         "",
		"https://x/ca.pem":     "",
		"/etc/\x00shadow":      "",
		"  /spaced/path.pem  ": "/spaced/path.pem",
	} {
		got, ok := ConfigPath(in, "/home/a")
		if got != want || ok != (want != "") {
			t.Errorf("ConfigPath(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func FuzzParseINI(f *testing.F) {
	f.Add([]byte("[http \"x\"]\nsslCAInfo = \"a\\\"b\"\n"))
	f.Add([]byte("cafile=~/x\nca[]=\"-----BEGIN\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range ParseINI(data) {
			if s.Key == "" || s.Key != strings.ToLower(s.Key) {
				t.Fatalf("bad key %q", s.Key)
			}
		}
	})
}

// FuzzEnvironment: SetEnv then GetEnv gives the value; UnsetEnv then
// leaves no assignment of the name; neither touches other names' values.
func FuzzEnvironment(f *testing.F) {
	f.Add([]byte("LANG=C\nexport A='b'\n# c\n"), "/etc/ssl/x.pem")
	f.Add([]byte("NODE_EXTRA_CA_CERTS=\"/a\"\nNODE_EXTRA_CA_CERTS=/b"), "/c")
	f.Fuzz(func(t *testing.T, data []byte, value string) {
		if !PlainValue(value) || !strings.HasPrefix(value, "/") {
			return
		}
		const name = "NODE_EXTRA_CA_CERTS"
		others := map[string]string{}
		for _, v := range ParseEnvironment(data, "f") {
			if v.Name != name {
				others[v.Name] = v.Value
			}
		}
		set := SetEnv(data, name, value, "why")
		vars := ParseEnvironment(set, "f")
		if v, ok := GetEnv(vars, name); !ok || v.Value != value {
			t.Fatalf("after SetEnv: %q", set)
		}
		for k, want := range others {
			if v, _ := GetEnv(vars, k); v.Value != want {
				t.Fatalf("SetEnv changed %s: %q -> %q", k, want, v.Value)
			}
		}
		if _, ok := GetEnv(ParseEnvironment(UnsetEnv(set, name), "f"), name); ok {
			t.Fatal("UnsetEnv left an assignment")
		}
	})
}
