package winebed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Bed is a private Wine prefix with a persistent wineserver.
type Bed struct {
	Dir        string   // temp dir holding the prefix and built programs
	Prefix     string   // WINEPREFIX
	Wine       string   // wine64 loader
	Wineserver string   // wineserver of the same installation
	Env        []string // environment for every wine process of the bed
}

// RepoRoot returns the root of the Anchorwatch source tree this package
// was compiled from (tests run from it).
func RepoRoot() string {
	_, f, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(f), "..", "..", "..")
}

// New makes a prefix in a new temp dir with scripts/wine-setup.sh, starts
// a persistent wineserver (every later wine call is then fast) and boots
// the prefix's services. Close undoes it all; on error New cleans up
// itself.
func New(ctx context.Context) (*Bed, error) {
	b := &Bed{}
	var err error
	if b.Wine, err = exec.LookPath("wine64"); err != nil {
		b.Wine = "/usr/lib/wine/wine64"
		if _, err := os.Stat(b.Wine); err != nil {
			return nil, errors.New("wine64 not found: install the Debian package wine64")
		}
	}
	if b.Wineserver, err = exec.LookPath("wineserver"); err != nil {
		b.Wineserver = "/usr/lib/wine/wineserver"
	}
	if _, err := exec.LookPath("x86_64-w64-mingw32-gcc"); err != nil {
		return nil, errors.New("x86_64-w64-mingw32-gcc not found: install the Debian package gcc-mingw-w64-x86-64-win32")
	}
	if b.Dir, err = os.MkdirTemp("", "anchorwatch-wine-"); err != nil {
		return nil, fmt.Errorf("wine test bed: %w", err)
	}
	b.Prefix = filepath.Join(b.Dir, "prefix")
	b.Env = append(os.Environ(), "WINEPREFIX="+b.Prefix, "WINEDEBUG=-all",
		"WINEDLLOVERRIDES=mscoree,mshtml=;bcryptprimitives=n", "DISPLAY=")
	if err := b.setup(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Bed) setup(ctx context.Context) error {
	setup := exec.CommandContext(ctx, filepath.Join(RepoRoot(), "scripts", "wine-setup.sh"), b.Prefix)
	if out, err := setup.CombinedOutput(); err != nil {
		return fmt.Errorf("scripts/wine-setup.sh %s: %v\n%s", b.Prefix, err, out)
	}
	// No pipe for the server's output: the daemon it leaves behind would
	// hold it open and the call would never return.
	srv := exec.CommandContext(ctx, b.Wineserver, "-p")
	srv.Env = b.Env
	if err := srv.Run(); err != nil {
		return fmt.Errorf("wineserver -p: %w", err)
	}
	// Start the prefix's services with no pipe attached: they outlive
	// wineboot and would hold a pipe open.
	boot := exec.CommandContext(ctx, b.Wine, "wineboot")
	boot.Env = b.Env
	if err := boot.Run(); err != nil {
		return fmt.Errorf("wineboot: %w", err)
	}
	return nil
}

// Build builds the Go package pkg (relative to the repository root, e.g.
// "./cmd/anchorwatch") for windows/amd64 into the bed as name.
func (b *Bed) Build(ctx context.Context, pkg, name string) (string, error) {
	return b.goTool(ctx, name, "build", "-o", filepath.Join(b.Dir, name), pkg)
}

// BuildTest compiles the tests of the Go package pkg for windows/amd64
// (go test -c) into the bed as name; run it with Run and -test.run.
func (b *Bed) BuildTest(ctx context.Context, pkg, name string) (string, error) {
	return b.goTool(ctx, name, "test", "-c", "-o", filepath.Join(b.Dir, name), pkg)
}

// goTool runs the go command for windows/amd64 without cgo in the
// repository root, and returns the path of the program it wrote as name.
func (b *Bed) goTool(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = RepoRoot()
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("GOOS=windows go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return filepath.Join(b.Dir, name), nil
}

// Command returns wine running args (a Windows program and its
// arguments) in the bed, for a caller that starts it in the background.
// Give it files, not pipes, for output: wine helper processes may inherit
// and keep a pipe open.
func (b *Bed) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, b.Wine, args...)
	cmd.Env = b.Env
	return cmd
}

// Run runs args under wine and returns the program's stdout; the error
// carries its stderr.
func (b *Bed) Run(ctx context.Context, args ...string) (string, error) {
	// Output goes to files, not pipes (see Command).
	stdout, err := os.CreateTemp(b.Dir, "stdout-")
	if err != nil {
		return "", err
	}
	defer os.Remove(stdout.Name())
	defer stdout.Close()
	stderr, err := os.CreateTemp(b.Dir, "stderr-")
	if err != nil {
		return "", err
	}
	defer os.Remove(stderr.Name())
	defer stderr.Close()
	cmd := b.Command(ctx, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	runErr := cmd.Run()
	out, _ := os.ReadFile(stdout.Name())
	if runErr != nil {
		errOut, _ := os.ReadFile(stderr.Name())
		return string(out), fmt.Errorf("wine %s: %v: %s", strings.Join(args, " "), runErr, bytes.TrimSpace(errOut))
	}
	return string(out), nil
}

// RegBlob returns the Blob value of a registry certificate key as hex
// (uppercase, as reg prints it), read with Wine's own `reg query`; ok is
// false when the key or value does not exist.
func (b *Bed) RegBlob(ctx context.Context, key string) (blob string, ok bool, err error) {
	out, err := b.Run(ctx, "reg", "query", key, "/v", "Blob")
	if err != nil {
		return "", false, nil // reg exits 1 for a missing key or value
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "Blob" && f[1] == "REG_BINARY" {
			return f[2], true, nil
		}
	}
	return "", false, fmt.Errorf("reg query %s: no Blob in\n%s", key, out)
}

// RegString returns a REG_SZ value read with Wine's own `reg query`; ok
// is false when the key or value does not exist.
func (b *Bed) RegString(ctx context.Context, key, value string) (s string, ok bool) {
	out, err := b.Run(ctx, "reg", "query", key, "/v", value)
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == value && f[1] == "REG_SZ" {
			return strings.Join(f[2:], " "), true
		}
	}
	return "", false
}

// MachineKey is the registry key of a certificate in a LocalMachine
// system store (ROOT, CA), by the SHA-1 of its DER (hex).
func MachineKey(store, sha1Hex string) string {
	return `HKLM\Software\Microsoft\SystemCertificates\` + store + `\Certificates\` + strings.ToUpper(sha1Hex)
}

// WinPath is the Windows name of a host path: Wine maps Z: to /.
func WinPath(p string) string {
	return `Z:` + strings.ReplaceAll(p, "/", `\`)
}

// DriveC is the host directory behind C: in the prefix.
func (b *Bed) DriveC() string { return filepath.Join(b.Prefix, "drive_c") }

// Close stops every wine process of the prefix (wineserver -k) and
// removes the bed's directory.
func (b *Bed) Close() error {
	var errs []error
	if b.Prefix != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		k := exec.CommandContext(ctx, b.Wineserver, "-k")
		k.Env = b.Env
		_ = k.Run() // exits non-zero when no wineserver runs
		// -k returns before the server is gone; wait, so no process
		// writes into the directory being removed.
		w := exec.CommandContext(ctx, b.Wineserver, "-w")
		w.Env = b.Env
		_ = w.Run()
	}
	if b.Dir != "" {
		if err := os.RemoveAll(b.Dir); err != nil {
			errs = append(errs, fmt.Errorf("wine test bed: %w", err))
		}
	}
	return errors.Join(errs...)
}
