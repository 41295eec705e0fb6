package installers

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/agent"
)

// systemctlStandIn replaces systemctl in a root where the test pretends
// systemd runs (/run/systemd/system exists). systemd cannot run as init
// in a chroot, so this stand-in records each call and, for start and
// restart, which binary version it would have started (in
// /var/lib/standin/<unit>); stop removes that record. enable, disable and
// is-enabled go to the real systemctl of the root, offline
// (SYSTEMD_OFFLINE=1).
const systemctlStandIn = `#!/bin/sh
echo "$*" >> /var/log/systemctl-calls
mkdir -p /var/lib/standin
case "$1" in
start|restart) /usr/bin/anchorwatch --version > "/var/lib/standin/$2" || exit 1 ;;
stop) rm -f "/var/lib/standin/$2" ;;
daemon-reload) ;;
*) SYSTEMD_OFFLINE=1 exec /bin/systemctl.real "$@" ;;
esac
`

// lifecycle is one way a host runs the package scripts.
type lifecycle struct {
	name string
	// prepare changes a fresh bullseye root before the first install.
	prepare func(t *testing.T, root string)
	running bool // systemd "runs" (stand-in): the agent must be started
}

// TestLinuxPackageLifecycle installs version N of the deb (dpkg --root)
// and the rpm (rpm --root) of the real static agent into a Debian 11
// root, upgrades to N+1, and removes it (deb: purge; rpm: erase), on
// three kinds of host:
//   - an image being built: systemctl present, systemd not running; the
//     service must end up enabled for the next boot;
//   - a container: no systemctl at all; enabled by the link systemctl
//     would make;
//   - a running system (systemctl stand-in, see systemctlStandIn): the
//     agent must be running the new version after the upgrade. This is
//     where RPM's order (new %post before old %preun) bites.
//
// Enablement is read with the host's real systemctl --root, the unit
// checked with systemd-analyze verify --root, the binary run in the root.
// The rpm is installed with --nodeps: its Requires (nss-tools,
// ca-certificates) are RHEL names and the root's packages are in dpkg's
// database, not RPM's.
func TestLinuxPackageLifecycle(t *testing.T) {
	needTool(t, "dpkg", "dpkg")
	needTool(t, "rpm", "rpm")
	needTool(t, "systemctl", "systemd")
	needTool(t, "systemd-analyze", "systemd")
	bins := t.TempDir()
	v1 := goBuild(t, "linux", "1.4.0", filepath.Join(bins, "v1"))
	v2 := goBuild(t, "linux", "1.5.0", filepath.Join(bins, "v2"))

	kinds := []lifecycle{
		{name: "image"},
		{name: "container", prepare: func(t *testing.T, root string) {
			for _, p := range []string{"bin/systemctl", "usr/bin/systemctl"} {
				os.Remove(filepath.Join(root, p))
			}
		}},
		{name: "running", running: true, prepare: func(t *testing.T, root string) {
			sc := filepath.Join(root, "bin/systemctl")
			if err := os.Rename(sc, sc+".real"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(sc, []byte(systemctlStandIn), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(root, "run/systemd/system"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, format := range []string{"deb", "rpm"} {
		pkgs := t.TempDir()
		in := linuxInputs(t, format)
		in.Binary, in.Version = v1, "1.4.0"
		n := buildLinux(t, in, pkgs)
		in.Binary, in.Version = v2, "1.5.0"
		n1 := buildLinux(t, in, pkgs)
		for _, k := range kinds {
			t.Run(format+"/"+k.name, func(t *testing.T) {
				root := bullseyeRoot(t)
				if k.prepare != nil {
					k.prepare(t, root)
				}
				pm := newPkgManager(t, format, root)
				out := pm.install(n)
				checkInstalled(t, root, format, k, "1.4.0", out)
				out = pm.upgrade(n1)
				checkInstalled(t, root, format, k, "1.5.0", out)
				pm.remove()
				checkRemoved(t, root, format, k)
			})
		}
	}
}

// pkgManager drives dpkg or rpm on a root.
type pkgManager struct {
	t            *testing.T
	format, root string
}

func newPkgManager(t *testing.T, format, root string) *pkgManager {
	if format == "rpm" {
		run(t, "rpm", "--root="+root, "--initdb")
	}
	return &pkgManager{t: t, format: format, root: root}
}

func (m *pkgManager) run(args ...string) string {
	m.t.Helper()
	tool := "dpkg"
	if m.format == "rpm" {
		tool = "rpm"
	}
	cmd := exec.Command(tool, append([]string{"--root=" + m.root}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		m.t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (m *pkgManager) install(pkg string) string {
	if m.format == "rpm" {
		return m.run("-i", "--nodeps", pkg)
	}
	return m.run("-i", pkg)
}

func (m *pkgManager) upgrade(pkg string) string {
	if m.format == "rpm" {
		return m.run("-U", "--nodeps", pkg)
	}
	return m.run("-i", pkg)
}

func (m *pkgManager) remove() {
	// The agent's state, as a running agent leaves it.
	state := filepath.Join(m.root, StateDir)
	if err := os.MkdirAll(state, 0o700); err != nil {
		m.t.Fatal(err)
	}
	os.WriteFile(filepath.Join(state, "node-key"), []byte("awn_x"), 0o600)
	if m.format == "rpm" {
		m.run("-e", "anchorwatch")
		return
	}
	m.run("--purge", "anchorwatch")
}

func unitDir(format string) string {
	if format == "rpm" {
		return "/usr/lib/systemd/system"
	}
	return "/lib/systemd/system"
}

func checkInstalled(t *testing.T, root, format string, k lifecycle, version, out string) {
	t.Helper()
	if got, _ := chroot(root, BinaryPath, "--version"); !strings.Contains(got, version) {
		t.Errorf("anchorwatch --version in the root: %q, want %s", got, version)
	}
	unit := unitDir(format) + "/" + UnitName
	data, err := os.ReadFile(filepath.Join(root, unit))
	if err != nil || string(data) != agent.SystemdUnit(BinaryPath, agent.RunArgs(ConfigPath)) {
		t.Errorf("%s: %v\n%s", unit, err, data)
	}
	if got := systemctlRoot(t, root, "is-enabled", UnitName); got != "enabled" {
		t.Errorf("after installing %s: systemctl --root is-enabled: %q, want enabled\npackage output:\n%s", version, got, out)
	}
	if out, err := exec.Command("systemd-analyze", "verify", "--root="+root, unit).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify --root %s: %v\n%s", unit, err, out)
	}
	if k.running {
		if got, _ := os.ReadFile(filepath.Join(root, "var/lib/standin", UnitName)); !strings.Contains(string(got), version) {
			calls, _ := os.ReadFile(filepath.Join(root, "var/log/systemctl-calls"))
			t.Errorf("after installing %s the agent runs %q, want version %s\nsystemctl calls:\n%s", version, got, version, calls)
		}
	} else if !strings.Contains(out, "starts at the next boot") {
		t.Errorf("no note that the agent starts at the next boot:\n%s", out)
	}
}

func checkRemoved(t *testing.T, root, format string, k lifecycle) {
	t.Helper()
	for _, p := range []string{BinaryPath, unitDir(format) + "/" + UnitName, "/etc/systemd/system/multi-user.target.wants/" + UnitName, ConfigPath} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s is still there after removal", p)
		}
	}
	_, err := os.Stat(filepath.Join(root, StateDir))
	if format == "deb" && err == nil {
		t.Errorf("dpkg --purge left the state in %s", StateDir)
	}
	if format == "rpm" && err != nil {
		t.Errorf("rpm -e removed the state in %s (rpm has no purge; it stays): %v", StateDir, err)
	}
	if k.running {
		if _, err := os.Stat(filepath.Join(root, "var/lib/standin", UnitName)); err == nil {
			t.Error("the agent still runs after removal")
		}
	}
}

// systemctlRoot runs the host's systemctl on the root's unit files.
func systemctlRoot(t *testing.T, root string, args ...string) string {
	t.Helper()
	out, _ := exec.Command("systemctl", append([]string{"--root=" + root}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out))
}

// TestDebCleansUpFirstDeb: the first deb registered the service with
// `anchorwatch agent install`, which wrote /etc/systemd/system/<unit>
// (shadowing any packaged unit) or, without systemd, a SysV script (and a
// 0-byte /etc/init.d entry). Installing this deb over such a host removes
// them and enables the packaged unit.
func TestDebCleansUpFirstDeb(t *testing.T) {
	needTool(t, "dpkg", "dpkg")
	root := bullseyeRoot(t)
	legacy := filepath.Join(root, "etc/systemd/system", UnitName)
	wants := filepath.Join(root, "etc/systemd/system/multi-user.target.wants", UnitName)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Dir(wants), 0o755))
	must(os.WriteFile(legacy, []byte("[Service]\nExecStart=/usr/bin/anchorwatch \"agent\" \"run\"\n"), 0o644))
	must(os.Symlink("/etc/systemd/system/"+UnitName, wants))
	must(os.WriteFile(filepath.Join(root, "etc/init.d/anchorwatch-agent"), nil, 0o755))
	must(os.Symlink("../init.d/anchorwatch-agent", filepath.Join(root, "etc/rc2.d/S01anchorwatch-agent")))
	// An unrelated unit of the admin's in /etc is left alone.
	other := filepath.Join(root, "etc/systemd/system/other.service")
	must(os.WriteFile(other, []byte("[Service]\nExecStart=/bin/true\n"), 0o644))

	p := linuxInputs(t, "deb")
	out := newPkgManager(t, "deb", root).install(buildLinux(t, p, t.TempDir()))
	for _, gone := range []string{legacy, filepath.Join(root, "etc/init.d/anchorwatch-agent"), filepath.Join(root, "etc/rc2.d/S01anchorwatch-agent")} {
		if _, err := os.Lstat(gone); err == nil {
			t.Errorf("%s is still there\n%s", gone, out)
		}
	}
	if target, err := os.Readlink(wants); err != nil || target != "/lib/systemd/system/"+UnitName {
		t.Errorf("%s -> %q (%v), want the packaged unit", wants, target, err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("the admin's own unit was removed: %v", err)
	}
}
