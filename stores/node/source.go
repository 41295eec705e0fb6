package node

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/internal/appstore"
)

// Variable is what the store sets.
const Variable = "NODE_EXTRA_CA_CERTS"

// EnvSource is a place where a variable is set for every user's
// programs.
type EnvSource interface {
	// Where names it (the store's location).
	Where() string
	// Format names the mechanism.
	Format() string
	// Get returns the variable's value (as the programs see it) and
	// whether it is set.
	Get(ctx context.Context) (string, bool, error)
	// Set sets it; Unset removes it. Both are no-ops in a dry run.
	Set(ctx context.Context, value string, dryRun bool) error
	Unset(ctx context.Context, dryRun bool) error
	// Watch names what to watch for changes.
	Watch() stores.WatchSpec
	// Bundle is the file Anchorwatch creates when the variable is not
	// set: its path inside the root and the value that names it.
	Bundle() (inside, value string)
	// RootOf is the root a value of the variable is a path under: the
	// store's root, or on Windows the drive the value names.
	RootOf(value string) string
}

// Files Anchorwatch owns on Linux.
const (
	LinuxBundle      = "/etc/ssl/anchorwatch/extra-ca-certs.pem"
	EnvironmentDFile = "/etc/environment.d/60-anchorwatch.conf"
	envdGenerator    = "/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator"
	debianEnvLink    = "/usr/lib/environment.d/99-environment.conf"
)

// why is the comment above our assignment.
const why = "Node.js trusts the CAs in this file (NODE_EXTRA_CA_CERTS, read when node starts)"

// pamEnv is /etc/environment (pam_env), plus systemd's environment.d
// where systemd does not read /etc/environment itself.
type pamEnv struct{ root string }

func (p pamEnv) Where() string  { return appstore.EtcEnvironment }
func (p pamEnv) Format() string { return "NODE_EXTRA_CA_CERTS in /etc/environment (pam_env)" }
func (p pamEnv) Bundle() (string, string) {
	return LinuxBundle, LinuxBundle
}
func (p pamEnv) RootOf(string) string { return p.root }

func (p pamEnv) Get(ctx context.Context) (string, bool, error) {
	data, _, err := fsroot.ReadBeneath(ctx, p.root, appstore.EtcEnvironment, 1<<20)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	if v, ok := appstore.GetEnv(appstore.ParseEnvironment(data, appstore.EtcEnvironment), Variable); ok {
		return v.Value, true, nil
	}
	if data, _, err := fsroot.ReadBeneath(ctx, p.root, EnvironmentDFile, 1<<20); err == nil {
		if v, ok := appstore.GetEnv(appstore.ParseEnvironment(data, EnvironmentDFile), Variable); ok {
			return v.Value, true, nil
		}
	}
	return "", false, nil
}

func (p pamEnv) Set(ctx context.Context, value string, dryRun bool) error {
	if !appstore.PlainValue(value) {
		return errors.New("the bundle path holds characters pam_env cannot take unquoted")
	}
	edit := func(old []byte, exists bool) ([]byte, error) { return appstore.SetEnv(old, Variable, value, why), nil }
	opt := fsroot.UpdateOptions{Max: 1 << 20, Mode: 0o644, DryRun: dryRun}
	if _, err := fsroot.Update(ctx, p.root, appstore.EtcEnvironment, opt, edit); err != nil {
		return err
	}
	if !p.needsEnvironmentD() {
		return nil
	}
	if err := fsroot.MkdirRoot(p.root, path.Dir(EnvironmentDFile), 0o755); err != nil && !dryRun {
		return err
	}
	_, err := fsroot.Update(ctx, p.root, EnvironmentDFile, opt, edit)
	return err
}

func (p pamEnv) Unset(ctx context.Context, dryRun bool) error {
	edit := func(old []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, nil
		}
		return appstore.UnsetEnv(old, Variable), nil
	}
	opt := fsroot.UpdateOptions{Max: 1 << 20, DryRun: dryRun}
	if _, err := fsroot.Update(ctx, p.root, appstore.EtcEnvironment, opt, edit); err != nil {
		return err
	}
	if _, err := fsroot.Update(ctx, p.root, EnvironmentDFile, opt, edit); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// needsEnvironmentD reports whether systemd's user manager is installed
// and does not already read /etc/environment (Debian links it in).
func (p pamEnv) needsEnvironmentD() bool {
	if !fsroot.Exists(p.root, envdGenerator) {
		return false
	}
	r, err := appstore.Resolve(p.root, debianEnvLink)
	return err != nil || r != appstore.EtcEnvironment
}

func (p pamEnv) Watch() stores.WatchSpec {
	hp := hostPath(p.root, appstore.EtcEnvironment)
	return stores.WatchSpec{Paths: []string{hp, path.Dir(hp), hostPath(p.root, path.Dir(EnvironmentDFile))}}
}

// sources returns the places under env.Root where a system-wide
// variable is set: pam_env on a Linux root, a LaunchAgent on a macOS
// root, the machine environment on a live Windows host.
func sources(env stores.Env) []EnvSource {
	var out []EnvSource
	if !rootIsLiveWindows(env) && (fsroot.Exists(env.Root, "/etc/os-release") || fsroot.Exists(env.Root, appstore.EtcEnvironment)) {
		out = append(out, pamEnv{root: env.Root})
	}
	if !rootIsLiveWindows(env) && fsroot.Exists(env.Root, "/System/Library/CoreServices/SystemVersion.plist") {
		out = append(out, launchAgent{root: env.Root})
	}
	return append(out, liveSources(env)...)
}

func hostPath(root, p string) string { return fsroot.HostPath(root, p) }

func isRegular(root, p string) bool {
	fi, err := os.Stat(hostPath(root, p))
	return err == nil && fi.Mode().IsRegular()
}
