package agent

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	tests := []struct {
		name, json, want string
	}{
		{"ok fingerprint", `{"collector_url":"https://c:8443","collector_fingerprint":"` + fp + `","enroll_secret":"s","policy_signer_file":"/s.pem"}`, ""},
		{"ok plain http", `{"collector_url":"http://127.0.0.1:8080","allow_plain_http":true,"enroll_secret_file":"/f","policy_signer_file":"/s.pem"}`, ""},
		{"unknown key", `{"collector_url":"https://c","colector_ca_file":"x"}`, `unknown field "colector_ca_file"`},
		{"no url", `{"enroll_secret":"s","policy_signer_file":"/s"}`, "collector_url: missing"},
		{"plain http", `{"collector_url":"http://c","enroll_secret":"s","policy_signer_file":"/s"}`, "collector_url: http:// sends the node key in clear"},
		{"no pin", `{"collector_url":"https://c","enroll_secret":"s","policy_signer_file":"/s"}`, "collector_ca_file: pin the collector"},
		{"bad fingerprint", `{"collector_url":"https://c","collector_fingerprint":"xyz","enroll_secret":"s","policy_signer_file":"/s"}`, "collector_fingerprint: not a SHA-256"},
		{"no secret", `{"collector_url":"https://c","collector_fingerprint":"` + fp + `","policy_signer_file":"/s"}`, "enroll_secret: give enroll_secret or enroll_secret_file"},
		{"two secrets", `{"collector_url":"https://c","collector_fingerprint":"` + fp + `","enroll_secret":"a","enroll_secret_file":"b","policy_signer_file":"/s"}`, "enroll_secret_file: give enroll_secret or enroll_secret_file, not both"},
		{"no signer", `{"collector_url":"https://c","collector_fingerprint":"` + fp + `","enroll_secret":"s"}`, "policy_signer_file: missing"},
		{"bad level", `{"collector_url":"https://c","collector_fingerprint":"` + fp + `","enroll_secret":"s","policy_signer_file":"/s","log_level":"loud"}`, `log_level: "loud"`},
		{"bad store", `{"collector_url":"https://c","collector_fingerprint":"` + fp + `","enroll_secret":"s","policy_signer_file":"/s","stores":["java","jks"]}`, `stores[1]: unknown store kind "jks"`},
		{"bad interval", `{"collector_url":"https://c","collector_fingerprint":"` + fp + `","enroll_secret":"s","policy_signer_file":"/s","rescan_interval":"10ms"}`, "rescan_interval: 10ms is under 1s"},
		{"min serial", `{"collector_url":"https://c","collector_fingerprint":"` + fp + `","enroll_secret":"s","policy_signer_file":"/s","min_policy_serial":42}`, ""},
		{"negative min serial", `{"collector_url":"https://c","collector_fingerprint":"` + fp + `","enroll_secret":"s","policy_signer_file":"/s","min_policy_serial":-1}`, "min_policy_serial: negative"},
		{"trailing", `{"collector_url":"https://c"} {}`, "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.json))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestLoadConfigRelativePaths(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "agent.json")
	os.WriteFile(p, []byte(`{"collector_url":"https://c","collector_ca_file":"ca.pem","enroll_secret_file":"secret","policy_signer_file":"signer.pem","state_dir":"state"}`), 0o600)
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.PolicySignerFile != filepath.Join(dir, "signer.pem") || c.StateDir != filepath.Join(dir, "state") {
		t.Errorf("paths not resolved against the config: %+v", c)
	}
	os.WriteFile(filepath.Join(dir, "secret"), []byte("  \n"), 0o600)
	if _, err := c.enrollSecret(); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty secret file: %v", err)
	}
}

// TestLoadConfigBounded checks that an oversized config or enroll secret
// file is refused without being read whole: a 256 MiB (sparse) file must
// not cost 256 MiB of memory.
func TestLoadConfigBounded(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge")
	if err := os.WriteFile(huge, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, 256<<20); err != nil {
		t.Fatal(err)
	}
	allocated := func(fn func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		fn()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	var err error
	if n := allocated(func() { _, err = LoadConfig(huge) }); n > 16<<20 {
		t.Errorf("LoadConfig allocated %d MiB for an oversized file", n>>20)
	}
	if err == nil || !strings.Contains(err.Error(), "over") {
		t.Errorf("oversized config: %v", err)
	}
	c := &Config{EnrollSecretFile: huge}
	if n := allocated(func() { _, err = c.enrollSecret() }); n > 16<<20 {
		t.Errorf("enrollSecret allocated %d MiB for an oversized file", n>>20)
	}
	if err == nil || !strings.Contains(err.Error(), "over") {
		t.Errorf("oversized enroll secret file: %v", err)
	}
}

func TestFacts(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/machine-id"), []byte("0123456789abcdef\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/os-release"), []byte("ID=debian\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"), 0o644)
	f := Facts(root, state, "v1")
	if f.MachineID != "0123456789abcdef" || f.OSVersion != "Debian GNU/Linux 12 (bookworm)" || f.Hostname == "" || f.AgentVersion != "v1" {
		t.Errorf("facts %+v", f)
	}
	for _, m := range f.MACs {
		if m != strings.ToLower(m) || strings.Count(m, ":") < 5 {
			t.Errorf("MAC %q not lowercase colon-separated", m)
		}
	}
	// No platform id: a generated one, stable across calls.
	empty := t.TempDir()
	a, b := Facts(empty, state, "v1").MachineID, Facts(empty, state, "v1").MachineID
	if a == "" || a != b {
		t.Errorf("generated machine id %q then %q", a, b)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"collector_url":"https://c","collector_fingerprint":"` + strings.Repeat("ab", 32) + `","enroll_secret":"s","policy_signer_file":"/s"}`))
	f.Add([]byte(`{"stores":["java"],"rescan_interval":"1m"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err == nil && (c.CollectorURL == "" || c.PolicySignerFile == "") {
			t.Fatalf("accepted an incomplete config: %+v", c)
		}
	})
}
