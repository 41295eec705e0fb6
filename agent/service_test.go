package agent

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestServiceInstallSystemd installs the agent as a systemd service on
// this machine's layout with kardianos/service, checks the unit with
// systemd-analyze verify, and uninstalls it cleanly. Where systemd is
// not PID 1 (containers, CI), install and uninstall still write and
// enable / disable and remove the unit; only the daemon reload is skipped.
func TestServiceInstallSystemd(t *testing.T) {
	for _, tool := range []string{"systemctl", "systemd-analyze"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install the Debian package systemd", tool)
		}
	}
	sys, err := SystemByName("linux-systemd")
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("anchorwatch-agent-test-%d", os.Getpid())
	dir := t.TempDir()
	exe := filepath.Join(dir, "anchorwatch")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "agent.json")
	os.WriteFile(cfg, []byte("{}"), 0o600)
	svc, err := NewService(nil, ServiceOptions{Name: name, ConfigPath: cfg, Root: dir, Executable: exe, System: sys})
	if err != nil {
		t.Fatal(err)
	}
	unit := UnitPath(name)
	t.Cleanup(func() {
		// Leave nothing behind even when an assertion failed.
		_ = exec.Command("systemctl", "disable", name+".service").Run()
		os.Remove(unit)
	})
	if _, err := Control(svc, name, "install"); err != nil {
		t.Fatalf("install: %v", err)
	}
	data, err := os.ReadFile(unit)
	if err != nil {
		t.Fatalf("no unit file after install: %v", err)
	}
	for _, want := range []string{
		"ExecStart=" + exe + ` "agent" "run" "--config" "` + cfg + `" "--root" "` + dir + `"`,
		"ExecReload=/bin/kill -HUP $MAINPID",
		"Restart=always",
		"WantedBy=multi-user.target",
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("unit lacks %q:\n%s", want, data)
		}
	}
	out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
	if err != nil || strings.Contains(string(out), name) {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", unit, err, out)
	}
	if out, _ := exec.Command("systemctl", "is-enabled", name+".service").Output(); strings.TrimSpace(string(out)) != "enabled" {
		t.Errorf("systemctl is-enabled: %q, want enabled", out)
	}
	if _, err := Control(svc, name, "install"); err == nil {
		t.Error("a second install succeeded")
	}
	if _, err := Control(svc, name, "uninstall"); err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	if _, err := os.Stat(unit); !os.IsNotExist(err) {
		t.Errorf("unit still there after uninstall: %v", err)
	}
	links, _ := filepath.Glob("/etc/systemd/system/*.wants/" + name + ".service")
	if len(links) > 0 {
		t.Errorf("enable links left behind: %v", links)
	}
}

// TestSystemdUnitEscapes: a binary and a config under paths with a space,
// a percent sign and a dollar sign give a unit systemd-analyze accepts; the
// same unit with the binary's space left unescaped is refused (so verify
// really resolves the command).
func TestSystemdUnitEscapes(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze not found: install the Debian package systemd")
	}
	dir := filepath.Join(t.TempDir(), "odd dir 100%")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "anchor watch")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, `agent $HOME "q".json`)
	unit := filepath.Join(t.TempDir(), "anchorwatch-escape-test.service")
	if err := os.WriteFile(unit, []byte(SystemdUnit(exe, RunArgs(cfg))), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
	if err != nil || strings.Contains(string(out), "anchorwatch-escape-test") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// verify resolves ExecStart's command: a path escaped wrongly names a
	// file that does not exist, and verify says so.
	broken := filepath.Join(t.TempDir(), "broken.service")
	bad := strings.ReplaceAll(SystemdUnit(exe, RunArgs(cfg)), `\x20`, " ")
	if err := os.WriteFile(broken, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("systemd-analyze", "verify", broken).CombinedOutput(); err == nil {
		t.Fatalf("systemd-analyze verify accepted an unescaped path:\n%s", out)
	}
}
