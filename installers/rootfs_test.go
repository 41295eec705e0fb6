package installers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests of this package that install packages or run the binary on an
// old system share one Debian 11 (bullseye, glibc 2.31) root filesystem,
// made with the real debootstrap from Debian's archive the first time a
// test asks for it (about two minutes; network to deb.debian.org, or
// ANCHORWATCH_DEBIAN_MIRROR) and removed when the tests end. It holds
// what the agent's packages depend on (libnss3-tools, ca-certificates) and
// systemd, as an image being built would; no init runs in it. Each test
// works on its own copy.
type rootfsCache struct {
	once sync.Once
	dir  string // temp dir holding root/
	err  error
}

var bullseye rootfsCache

func TestMain(m *testing.M) {
	code := m.Run()
	if bullseye.dir != "" {
		os.RemoveAll(bullseye.dir)
	}
	os.Exit(code)
}

// bullseyeRoot returns a private copy of the bullseye rootfs.
func bullseyeRoot(t *testing.T) string {
	t.Helper()
	bullseye.once.Do(func() { bullseye.dir, bullseye.err = debootstrap() })
	if bullseye.err != nil {
		t.Fatal(bullseye.err)
	}
	dst := filepath.Join(t.TempDir(), "root")
	if out, err := exec.Command("cp", "-a", "--reflink=auto", filepath.Join(bullseye.dir, "root"), dst).CombinedOutput(); err != nil {
		t.Fatalf("copy the bullseye rootfs: %v\n%s", err, out)
	}
	return dst
}

func debootstrap() (string, error) {
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("debootstrap, dpkg --root and rpm --root need root: run the tests as root")
	}
	tool, err := exec.LookPath("debootstrap")
	if err != nil {
		return "", fmt.Errorf("debootstrap not found: install the Debian package debootstrap")
	}
	mirror := os.Getenv("ANCHORWATCH_DEBIAN_MIRROR")
	if mirror == "" {
		mirror = "http://deb.debian.org/debian"
	}
	dir, err := os.MkdirTemp("", "anchorwatch-bullseye-")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, tool, "--variant=minbase", "--include=libnss3-tools,ca-certificates,systemd,procps",
		"bullseye", filepath.Join(dir, "root"), mirror)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		tail := out
		if len(tail) > 4000 {
			tail = tail[len(tail)-4000:]
		}
		return "", fmt.Errorf("debootstrap bullseye from %s: %v\n%s", mirror, err, tail)
	}
	fmt.Fprintf(os.Stderr, "debootstrap bullseye: %s\n", time.Since(start).Round(time.Second))
	return dir, nil
}

// repoRoot is the root of the source tree (tests run in installers/).
func repoRoot(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// goBuild builds ./cmd/anchorwatch for goos/amd64 with version v into
// dir, without cgo (as the release binary is built).
func goBuild(t *testing.T, goos, v, dir string) string {
	t.Helper()
	return goBuildArch(t, goos, "amd64", v, dir)
}

// goBuildArch is goBuild for another GOARCH.
func goBuildArch(t *testing.T, goos, goarch, v, dir string) string {
	t.Helper()
	name := "anchorwatch"
	if goos == "windows" {
		name += ".exe"
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+v, "-o", out, "./cmd/anchorwatch")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=%s go build: %v\n%s", goos, err, b)
	}
	return out
}

// chroot runs a command inside root and returns its combined output.
func chroot(root string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "chroot", append([]string{root}, args...)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// goCmd is the go tool run in dir.
func goCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	return cmd
}
