//go:build linux

package system

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// binDirs is where refresh tools are looked up, on the host and inside a
// root. A fixed list rather than $PATH: an agent runs as a service with a
// minimal PATH, and a writable directory early in PATH must not decide
// which program rebuilds the trust store.
var binDirs = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

const toolPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// plan is how to rebuild the bundle of one store.
type plan struct {
	how  string // "host", "dirflags" or "chroot", for logs
	prog string // host path of the program (inside the root for chroot)
	args []string
	// chroot is the root to chroot into ("" for none).
	chroot string
	// noHooks tells Debian's tool to run no hooks (see refreshPlan).
	noHooks bool
}

// refreshName is the family's refresh command as a user would type it.
func (s *Store) refreshName() string {
	if len(s.fam.Refresh) == 0 {
		return "the refresh tool"
	}
	return strings.Join(s.fam.Refresh[0], " ")
}

// refreshPlan decides how to rebuild the bundle:
//
//   - root "/": the family's tool, found in the standard bin directories.
//   - another root, Debian family: the host's update-ca-certificates (the
//     Debian shell script, which takes directory flags) pointed inside the
//     root with --certsconf --certsdir --localcertsdir --etccertsdir, and
//     --hooksdir set to a path that cannot exist. Hooks are not run for a
//     foreign root on purpose: they are host programs with host paths
//     (Debian's jks-keystore hook appends to /var/lib/ca-certificates-java
//     and runs dpkg triggers of the host), so running either the host's or
//     the root's hooks would change the host. The root's Java keystores are
//     handled by the java adapter.
//   - another root, other families (or a host without Debian's script):
//     chroot into the root and run the root's own tool, which needs the
//     tool inside the root and root privileges.
//   - otherwise an error naming what to run.
func (s *Store) refreshPlan() (plan, error) {
	if len(s.fam.Refresh) == 0 {
		return plan{}, fmt.Errorf("%s store: no refresh tool known", s.fam.Name)
	}
	if s.root == "/" || s.root == "" {
		for _, cmd := range s.fam.Refresh {
			if p := findTool("/", cmd[0]); p != "" {
				return plan{how: "host", prog: p, args: cmd[1:]}, nil
			}
		}
		return plan{}, fmt.Errorf("%s store: %s not found in %s: install the distribution's ca-certificates package", s.fam.Name, s.refreshName(), strings.Join(binDirs, ":"))
	}
	if s.fam.Name == "debian" {
		if p := findTool("/", "update-ca-certificates"); p != "" && takesDirFlags(p) {
			return plan{how: "dirflags", prog: p, args: []string{
				"--certsconf", fsroot.Join(s.root, s.fam.CertsConf),
				"--certsdir", fsroot.Join(s.root, s.fam.CertsDir),
				"--localcertsdir", fsroot.Join(s.root, s.fam.AnchorsDir),
				"--etccertsdir", fsroot.Join(s.root, path.Dir(s.fam.Bundle)),
			}, noHooks: true}, nil
		}
	}
	for _, cmd := range s.fam.Refresh {
		p := findTool(s.root, cmd[0])
		if p == "" {
			continue
		}
		if os.Geteuid() != 0 {
			return plan{}, fmt.Errorf("%s store under %s: refreshing it means running %s inside the root with chroot, which needs root privileges: run as root, or run `chroot %s %s` yourself", s.fam.Name, s.root, strings.Join(cmd, " "), s.root, strings.Join(cmd, " "))
		}
		return plan{how: "chroot", prog: p, args: cmd[1:], chroot: s.root}, nil
	}
	return plan{}, fmt.Errorf("%s store under %s: cannot refresh it: %s is not installed in that root and this host's tools cannot target another root; install the ca-certificates package in the root, or run `chroot %s %s` on a host that can", s.fam.Name, s.root, s.refreshName(), s.root, s.refreshName())
}

// findTool looks name up in binDirs under root (symlinks resolved inside
// the root) and returns its path — a host path for root "/", the path
// inside the root otherwise — or "" when it is not an executable file.
func findTool(root, name string) string {
	for _, d := range binDirs {
		p := path.Join(d, name)
		r, err := fsroot.Resolve(root, p)
		if err != nil {
			continue
		}
		fi, err := os.Stat(fsroot.Join(root, r))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			continue
		}
		if root == "/" || root == "" {
			return r
		}
		return p
	}
	return ""
}

// takesDirFlags reports whether the update-ca-certificates at p is
// Debian's script (which has --localcertsdir) rather than SUSE's or
// Alpine's, which do not.
func takesDirFlags(p string) bool {
	f, _, err := fsroot.Open(p, fsroot.Want{Follow: true})
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	n, _ := f.Read(buf)
	return bytes.Contains(buf[:n], []byte("--localcertsdir")) && bytes.Contains(buf[:n], []byte("--hooksdir"))
}

// refresh runs the plan. Its output is logged at debug level and quoted
// in the error when the tool fails.
func (s *Store) refresh(ctx context.Context, pl plan) error {
	args := pl.args
	if pl.how == "dirflags" {
		// The script starts with cd "$ETCCERTSDIR".
		if err := os.MkdirAll(fsroot.Join(s.root, path.Dir(s.fam.Bundle)), 0o755); err != nil {
			return fmt.Errorf("%s store: refresh: %w", s.fam.Name, err)
		}
	}
	if pl.how == "dirflags" {
		// Let the script see the links it made as it made them (host
		// paths), so it adds only what is new and rehashes once, instead
		// of re-linking every certificate and rehashing the directory
		// from scratch on every run (~0.4 s of CPU saved per refresh).
		if err := s.hostLinks(); err != nil {
			return err
		}
	}
	if pl.noHooks {
		// A path that can never be a directory: the script's
		// [ -d "$HOOKSDIR" ] is false and no hook runs. Nothing to create
		// or clean up, and nobody can plant a hook there.
		args = append(append([]string(nil), args...), "--hooksdir", "/dev/null/anchorwatch-no-hooks")
	}
	// The tool runs as root and writes the bundle's directory (all of the
	// root, chrooted): nobody else may be able to change it.
	guard := fsroot.Join(s.root, path.Dir(s.fam.Bundle))
	if pl.chroot != "" {
		guard = pl.chroot
	}
	if err := s.rootOnly(guard); err != nil {
		return err
	}
	env := []string{toolPath, "LC_ALL=C"}
	if t := os.Getenv("TMPDIR"); t != "" && pl.chroot == "" {
		env = append(env, "TMPDIR="+t)
	}
	s.log.Debug("system store: refresh", "how", pl.how, "prog", pl.prog, "args", args)
	out, err := fsroot.Tool{Path: pl.prog, Args: args, Env: env, Dir: "/", Chroot: pl.chroot}.Run(ctx)
	s.log.Debug("system store: refresh output", "output", string(out))
	if err != nil {
		where := pl.prog
		if pl.chroot != "" {
			where = "chroot " + pl.chroot + " " + pl.prog
		}
		return fmt.Errorf("%s store: %s %s failed: %w: %s", s.fam.Name, where, strings.Join(args, " "), err, tail(out, 600))
	}
	if pl.how == "dirflags" {
		if err := s.fixLinks(); err != nil {
			return err
		}
	}
	return nil
}

// fixLinks rewrites the symlinks Debian's tool made in the root's
// /etc/ssl/certs: run with directory flags it links to host paths
// (<root>/usr/share/ca-certificates/…), which would dangle once the root is
// booted or chrooted. They are made absolute paths inside the root again.
func (s *Store) fixLinks() error {
	dir := fsroot.Join(s.root, path.Dir(s.fam.Bundle))
	prefix := filepath.Clean(s.root) + "/"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%s store: fix links in %s: %w", s.fam.Name, dir, err)
	}
	for _, e := range ents {
		if e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		hp := filepath.Join(dir, e.Name())
		target, err := os.Readlink(hp)
		if err != nil || !strings.HasPrefix(target, prefix) {
			continue
		}
		inside := "/" + strings.TrimPrefix(target, prefix)
		tmp := hp + ".anchorwatch-link"
		_ = os.Remove(tmp)
		if err := os.Symlink(inside, tmp); err != nil {
			return fmt.Errorf("%s store: fix link %s: %w", s.fam.Name, hp, err)
		}
		if err := os.Rename(tmp, hp); err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("%s store: fix link %s: %w", s.fam.Name, hp, err)
		}
	}
	return nil
}

// hostLinks undoes fixLinks before a dirflags run: the links into the
// root's certificate and anchors directories point to host paths again,
// exactly as update-ca-certificates writes them, so its "is the link
// already right?" test holds for every unchanged certificate. Other links
// are left alone. fixLinks runs again after the tool.
func (s *Store) hostLinks() error {
	dir := fsroot.Join(s.root, path.Dir(s.fam.Bundle))
	prefix := filepath.Clean(s.root)
	var inside []string
	for _, d := range []string{s.fam.CertsDir, s.fam.AnchorsDir} {
		if d != "" {
			inside = append(inside, path.Clean(d)+"/")
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("%s store: links in %s: %w", s.fam.Name, dir, err)
	}
	for _, e := range ents {
		if e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		hp := filepath.Join(dir, e.Name())
		target, err := os.Readlink(hp)
		if err != nil {
			continue
		}
		ok := false
		for _, in := range inside {
			ok = ok || strings.HasPrefix(target, in)
		}
		if !ok {
			continue
		}
		tmp := hp + ".anchorwatch-link"
		_ = os.Remove(tmp)
		if err := os.Symlink(prefix+target, tmp); err != nil {
			return fmt.Errorf("%s store: link %s: %w", s.fam.Name, hp, err)
		}
		if err := os.Rename(tmp, hp); err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("%s store: link %s: %w", s.fam.Name, hp, err)
		}
	}
	return nil
}

func tail(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	if s == "" {
		return "(no output)"
	}
	return s
}
