package nss

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// ErrCertutilMissing is returned (wrapped) when a write needs certutil
// and it is not installed.
var ErrCertutilMissing = errors.New("certutil not found: install it (Debian/Ubuntu: apt-get install libnss3-tools; RHEL/Fedora: dnf install nss-tools; SUSE: zypper install mozilla-nss-tools)")

// ErrPrimaryPassword is returned (wrapped) for a database protected by a
// primary (master) password: certutil cannot change trust without it.
var ErrPrimaryPassword = errors.New("the database is protected by a primary password; anchorwatch cannot write it unattended (remove the password in the application, or deploy the CA with the Firefox enterprise policy Certificates.Install)")

// ErrReadOnly is returned (wrapped) for a database whose owner cannot
// write it.
var ErrReadOnly = errors.New("the database is read-only")

// certutilAvailable reports whether certutil is on PATH.
func certutilAvailable() bool {
	_, err := exec.LookPath("certutil")
	return err == nil
}

// dbFiles are the files certutil may rewrite in a database directory.
var dbFiles = []string{"cert9.db", "key4.db", "pkcs11.txt"}

// runner runs certutil on one database as the database's owner and puts
// back owner and mode of its files afterwards.
type runner struct {
	bin      string
	dir      string // host path of the database directory
	uid, gid int    // owner of cert9.db; -1 when unknown
	asOwner  bool   // run certutil as uid:gid (when we are root)
	saved    map[string]fs.FileInfo
}

// runner checks that the database can be written and prepares certutil.
func (s *Store) runner(ctx context.Context) (*runner, error) {
	bin := s.certutil
	if bin == "" {
		p, err := exec.LookPath("certutil")
		if err != nil {
			return nil, fmt.Errorf("nss database %s: %w", s.dir, ErrCertutilMissing)
		}
		bin = p
	} else if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("nss database %s: %w (%s: %v)", s.dir, ErrCertutilMissing, bin, err)
	}
	r := &runner{bin: bin, dir: s.Dir(), saved: map[string]fs.FileInfo{}}
	for _, f := range dbFiles {
		if fi, err := os.Lstat(filepath.Join(r.dir, f)); err == nil {
			r.saved[f] = fi
		}
	}
	fi, err := os.Stat(filepath.Join(r.dir, "cert9.db"))
	if err != nil {
		return nil, fmt.Errorf("nss database %s: %w", s.dir, err)
	}
	if fi.Mode().Perm()&0o200 == 0 {
		return nil, fmt.Errorf("nss database %s: %w: cert9.db has mode %04o (make it writable by its owner to let anchorwatch manage it)", s.dir, ErrReadOnly, fi.Mode().Perm())
	}
	r.uid, r.gid = fsroot.Owner(filepath.Join(r.dir, "cert9.db"))
	// certutil -K needs the token logged in: with an empty password that
	// succeeds silently, with a primary password it fails at once instead
	// of leaving a half-done import (certutil -A imports the certificate
	// before it authenticates to set the trust).
	r.asOwner = true
	out, _ := r.run(ctx, nil, "-K", "-d", "sql:"+r.dir, "-f", os.DevNull)
	if bytes.Contains(out, []byte("SEC_ERROR_BAD_DATABASE")) && r.uid > 0 && os.Geteuid() == 0 {
		// The owner cannot reach the directory (a sandbox root under a
		// private directory such as /root). Nobody but root can then
		// plant a symlink on the way, so running as root is safe; the
		// owner of every file is put back afterwards.
		r.asOwner = false
		if out2, _ := r.run(ctx, nil, "-K", "-d", "sql:"+r.dir, "-f", os.DevNull); !bytes.Contains(out2, []byte("SEC_ERROR_BAD_DATABASE")) {
			s.log.Warn("nss: the database owner cannot reach the database; running certutil as root", "db", s.dir, "uid", r.uid)
			out = out2
		} else {
			r.asOwner = true
		}
	}
	if bytes.Contains(out, []byte("SEC_ERROR_BAD_PASSWORD")) {
		return nil, fmt.Errorf("nss database %s: %w", s.dir, ErrPrimaryPassword)
	}
	if bytes.Contains(out, []byte("SEC_ERROR_READ_ONLY")) || bytes.Contains(out, []byte("SEC_ERROR_BAD_DATABASE")) {
		return nil, fmt.Errorf("nss database %s: certutil cannot open it: %s", s.dir, firstLines(out))
	}
	return r, nil
}

// add imports der with the given nickname and trust ("C,,"). On an
// existing certificate it changes the trust and keeps the nickname.
func (r *runner) add(ctx context.Context, der []byte, nick, trust string) error {
	if nick == "" {
		return errors.New("certificate has no nickname")
	}
	in := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if out, err := r.run(ctx, in, "-A", "-d", "sql:"+r.dir, "-n", nick, "-t", trust, "-a", "-f", os.DevNull); err != nil {
		return fmt.Errorf("certutil -A -n %s -t %s: %w: %s", nick, trust, err, firstLines(out))
	}
	return nil
}

// delete removes the certificate named nick.
func (r *runner) delete(ctx context.Context, nick string) error {
	if nick == "" {
		return errors.New("certificate has no nickname; delete it with a tool that takes a certificate handle")
	}
	if out, err := r.run(ctx, nil, "-D", "-d", "sql:"+r.dir, "-n", nick, "-f", os.DevNull); err != nil {
		return fmt.Errorf("certutil -D -n %s: %w: %s", nick, err, firstLines(out))
	}
	return nil
}

// run runs certutil in its own session (no terminal to prompt on) as
// the database owner, with a minimal environment.
func (r *runner) run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Env = []string{"LANG=C", "LC_ALL=C", "PATH=/usr/bin:/bin:/usr/sbin:/sbin", "HOME=" + r.dir}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if r.asOwner {
		asUser(cmd, r.uid, r.gid)
	} else {
		asUser(cmd, -1, -1)
	}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return out, ctx.Err()
	}
	return out, err
}

// restoreOwnership puts back the owner and mode each database file had
// before certutil ran, and gives files certutil created the owner of
// cert9.db.
func (r *runner) restoreOwnership() {
	for _, f := range dbFiles {
		hp := filepath.Join(r.dir, f)
		fi, err := os.Lstat(hp)
		if err != nil || !fi.Mode().IsRegular() {
			continue // never chmod through a symlink planted in a user's directory
		}
		prev, ok := r.saved[f]
		if !ok {
			if r.uid >= 0 {
				_ = chownIfRoot(hp, r.uid, r.gid)
			}
			continue
		}
		if fi.Mode().Perm() != prev.Mode().Perm() {
			_ = os.Chmod(hp, prev.Mode().Perm())
		}
		uid, gid := ownerOf(fi)
		if wantUID, wantGID := ownerOf(prev); wantUID >= 0 && (uid != wantUID || gid != wantGID) {
			_ = chownIfRoot(hp, wantUID, wantGID)
		}
	}
}

// firstLines trims tool output for an error message.
func firstLines(out []byte) string {
	s := strings.TrimSpace(string(out))
	lines := strings.Split(s, "\n")
	if len(lines) > 4 {
		lines = lines[len(lines)-4:]
	}
	s = strings.Join(lines, "; ")
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	if s == "" {
		return "(no output)"
	}
	return s
}
