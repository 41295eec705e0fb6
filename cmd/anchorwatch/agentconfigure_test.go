//go:build linux

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/agent"
	"github.com/anchorwatch/anchorwatch/installers"
	"github.com/anchorwatch/anchorwatch/internal/hostile"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

// configureDir is a config directory as the MSI leaves it before its
// custom action runs: the package's config and the signer.
func configureDir(t *testing.T, pkgConfig string) (dir string, o configureOptions) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "Anchorwatch")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	signer, _ := testpki.SelfSigned(t, "Policy Signer")
	testpki.WritePEM(t, filepath.Join(dir, installers.SignerName), signer)
	if pkgConfig == "" {
		pkgConfig = `{"collector_url":"https://built.example:8443","collector_fingerprint":"` + strings.Repeat("ab", 32) +
			`","enroll_secret_file":"enroll-secret","policy_signer_file":"policy-signer.pem","stores":["windows"]}`
	}
	if err := os.WriteFile(filepath.Join(dir, installers.MSIPackageConfigName), []byte(pkgConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, configureOptions{config: filepath.Join(dir, installers.ConfigName), packageConfig: filepath.Join(dir, installers.MSIPackageConfigName)}
}

func readConfig(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAgentConfigureKeepsSettings: configure applies the install-time
// settings to the package's config and copies the secret; a later run
// without settings (an upgrade, with a newer package config) keeps them,
// even after the original secret file is gone; the agent loads the
// result.
func TestAgentConfigureKeepsSettings(t *testing.T) {
	dir, o := configureDir(t, "")
	src := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(src, []byte("awe_secret_from_property\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fp := strings.Repeat("cd", 32)
	o.collectorURL, o.collectorFingerprint, o.enrollSecretFile = "https://prop.example:9443", fp, src
	if err := configureAgent(o); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"collector_url":         "https://prop.example:9443",
		"collector_fingerprint": fp,
		"enroll_secret_file":    filepath.Join(dir, installers.MSIPropertySecretName),
		"policy_signer_file":    "policy-signer.pem",
	}
	check := func(when string) {
		t.Helper()
		got := readConfig(t, o.config)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %v", when, k, got[k], v)
			}
		}
		if _, err := agent.LoadConfig(o.config); err != nil {
			t.Errorf("%s: the agent refuses the written config: %v", when, err)
		}
		for _, name := range []string{installers.ConfigName, installers.MSIPropertySecretName, installers.MSIPropertiesName} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s: %v %v, want mode 0600", when, name, fi.Mode(), err)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(dir, installers.MSIPropertySecretName)); string(b) != "awe_secret_from_property\n" {
			t.Errorf("%s: copied secret %q", when, b)
		}
	}
	check("first install")

	// An upgrade: a newer package config, no settings, the secret's
	// source gone.
	os.Remove(src)
	newer := `{"collector_url":"https://built.example:8443","collector_fingerprint":"` + strings.Repeat("ab", 32) +
		`","enroll_secret_file":"enroll-secret","policy_signer_file":"policy-signer.pem","stores":["windows","java"]}`
	if err := os.WriteFile(o.packageConfig, []byte(newer), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := configureAgent(configureOptions{config: o.config, packageConfig: o.packageConfig}); err != nil {
		t.Fatal(err)
	}
	check("upgrade")
	if s, _ := readConfig(t, o.config)["stores"].([]any); len(s) != 2 {
		t.Errorf("upgrade: the newer package config's stores did not land: %v", s)
	}

	// Purge removes what configure wrote and the state, not the
	// package's files.
	state := filepath.Join(dir, "agent")
	os.MkdirAll(filepath.Join(state, "spool"), 0o700)
	os.WriteFile(filepath.Join(state, "spool", "r1"), []byte("x"), 0o600)
	if err := purgeAgentConfig(o.config); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if strings.Join(left, " ") != installers.MSIPackageConfigName+" "+installers.SignerName {
		t.Errorf("after purge the directory holds %v, want only the package's files", left)
	}
}

// TestAgentConfigureRefusesHostileInput: a config directory a user owns,
// may write, or links elsewhere, and a secret file that is a link, a
// FIFO, a hard link to a root-only file or huge, are refused with a clear
// error and nothing written; a FIFO does not block.
func TestAgentConfigureRefusesHostileInput(t *testing.T) {
	h := hostile.NewUser(t)
	secret := func(t *testing.T) string {
		p := filepath.Join(t.TempDir(), "secret")
		os.WriteFile(p, []byte("awe_x\n"), 0o600)
		return p
	}
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, dir string, o *configureOptions)
		want  string
	}{
		{"dir owned by the user", func(t *testing.T, dir string, o *configureOptions) {
			os.Chown(dir, h.UID, h.GID)
		}, "belongs to uid"},
		{"dir writable by others", func(t *testing.T, dir string, o *configureOptions) {
			os.Chmod(dir, 0o777)
		}, "writable by group or others"},
		{"dir is the user's link", func(t *testing.T, dir string, o *configureOptions) {
			theirs := filepath.Join(t.TempDir(), "theirs")
			os.Rename(dir, theirs)
			os.Chown(theirs, h.UID, h.GID)
			os.Symlink(theirs, dir)
			os.Lchown(dir, h.UID, h.GID)
		}, "not a plain directory"},
		{"secret is a link to a root-only file", func(t *testing.T, dir string, o *configureOptions) {
			p := filepath.Join(t.TempDir(), "secret")
			os.Symlink("/etc/shadow", p)
			os.Lchown(p, h.UID, h.GID)
			o.enrollSecretFile = p
		}, "not a regular file"},
		{"secret is a hard link to a root-only file", func(t *testing.T, dir string, o *configureOptions) {
			root := filepath.Join(filepath.Dir(dir), "root-only")
			os.WriteFile(root, []byte("root's secret\n"), 0o600)
			p := filepath.Join(filepath.Dir(dir), "secret")
			if err := os.Link(root, p); err != nil {
				t.Fatal(err)
			}
			o.enrollSecretFile = p
		}, "hard links"},
		{"secret is a FIFO", func(t *testing.T, dir string, o *configureOptions) {
			p := filepath.Join(t.TempDir(), "secret")
			if err := syscall.Mkfifo(p, 0o666); err != nil {
				t.Fatal(err)
			}
			os.Chown(p, h.UID, h.GID)
			o.enrollSecretFile = p
		}, "not a regular file"},
		{"secret is huge", func(t *testing.T, dir string, o *configureOptions) {
			p := secret(t)
			os.WriteFile(p, make([]byte, 65<<10), 0o600)
			o.enrollSecretFile = p
		}, "over 64 KiB"},
		{"bad collector URL", func(t *testing.T, dir string, o *configureOptions) {
			o.collectorURL = "http://plain.example"
		}, "collector_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, o := configureDir(t, "")
			tc.plant(t, dir, &o)
			done := make(chan error, 1)
			go func() { done <- configureAgent(o) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("configure blocked")
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			for _, name := range []string{installers.ConfigName, installers.MSIPropertySecretName, installers.MSIPropertiesName} {
				if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
					t.Errorf("%s written although configure failed", name)
				}
			}
		})
	}
}

// TestAgentConfigurePurgeRefusesLinkedDir: purge never deletes through a
// config directory that is a link a user planted.
func TestAgentConfigurePurgeRefusesLinkedDir(t *testing.T) {
	h := hostile.NewUser(t)
	victim := t.TempDir()
	os.WriteFile(filepath.Join(victim, installers.ConfigName), []byte("{}"), 0o600)
	os.MkdirAll(filepath.Join(victim, "agent"), 0o700)
	link := filepath.Join(t.TempDir(), "Anchorwatch")
	os.Symlink(victim, link)
	os.Lchown(link, h.UID, h.GID)
	if err := purgeAgentConfig(filepath.Join(link, installers.ConfigName)); err == nil {
		t.Fatal("purge went through a linked directory")
	}
	for _, p := range []string{installers.ConfigName, "agent"} {
		if _, err := os.Stat(filepath.Join(victim, p)); err != nil {
			t.Errorf("purge removed %s behind the link: %v", p, err)
		}
	}
}
