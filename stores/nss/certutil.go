package nss

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
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

// maxPKCS11 bounds pkcs11.txt (a few lines).
const maxPKCS11 = 1 << 20

// runner runs certutil on one database with the identity its place calls
// for (see whom), and puts back the modes of its files afterwards.
//
// Root never runs certutil in a directory a user controls: NSS loads the
// PKCS#11 modules that directory's pkcs11.txt names, and reads and writes
// whatever its file names lead to. A database a user controls is written
// by certutil running as that user; when the user cannot reach it by its
// path (a sandbox root under a directory only root may enter), certutil
// works on a private copy (copy_unix.go) and the result is moved back as
// the user. When the user cannot open it at all, nothing is run.
type runner struct {
	bin   string
	dir   *dbDir
	view  string       // host directory certutil works on
	user  *fsroot.User // nil: as root, in a directory only root controls
	saved map[string]fs.FileInfo
	copy  *workCopy // the private copy, when certutil works on one
	log   *slog.Logger
	libs  nssLibs // the NSS generations certutil can run on
}

// runner checks the database and prepares certutil. The caller must call
// finish (and close).
func (s *Store) runner(ctx context.Context) (*runner, error) {
	bin, err := s.certutilPath()
	if err != nil {
		return nil, err
	}
	d, err := openDBDir(s.Dir())
	if err != nil {
		return nil, fmt.Errorf("nss database %s: %w", s.dir, err)
	}
	r := &runner{bin: bin, dir: d, view: d.hp, saved: map[string]fs.FileInfo{}, log: s.log, libs: findLibs()}
	if err := r.whom(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("nss database %s: %w", s.dir, err)
	}
	if err := r.checkPassword(ctx); err != nil {
		r.close()
		return nil, fmt.Errorf("nss database %s: %w", s.dir, err)
	}
	return r, nil
}

func (s *Store) certutilPath() (string, error) {
	if s.certutil == "" {
		p, err := exec.LookPath("certutil")
		if err != nil {
			return "", fmt.Errorf("nss database %s: %w", s.dir, ErrCertutilMissing)
		}
		return p, nil
	}
	if _, err := os.Stat(s.certutil); err != nil {
		return "", fmt.Errorf("nss database %s: %w (%s: %v)", s.dir, ErrCertutilMissing, s.certutil, err)
	}
	return s.certutil, nil
}

// whom checks the database files and decides who runs certutil where.
func (r *runner) whom(ctx context.Context) error {
	d := r.dir
	ctl, err := fsroot.Controller(d.hp)
	if err != nil {
		return fmt.Errorf("%w: %w", stores.ErrUnsafe, err)
	}
	if ctl.UID != 0 && d.uid != ctl.UID {
		return fmt.Errorf("%w: the directory is owned by uid %d but lies in %s, which uid %d owns (chown -R %d %s)", stores.ErrUnsafe, d.uid, ctl.By, ctl.UID, ctl.UID, d.hp)
	}
	if err := r.checkFiles(); err != nil {
		return err
	}
	if ctl.UID == 0 {
		return nil // only root controls the path: certutil runs as root
	}
	cert := r.saved["cert9.db"]
	_, gid := fsroot.FileOwner(cert)
	r.user = &fsroot.User{UID: ctl.UID, GID: gid}
	dirMode := dirPerm(d)
	if dirMode&0o700 != 0o700 {
		return fmt.Errorf("%w: its owner (uid %d) cannot open it (directory mode %04o); no change made: anchorwatch never runs certutil as root in a directory a user controls", stores.ErrUnsafe, ctl.UID, dirMode)
	}
	if r.userReaches() {
		return nil
	}
	r.log.Info("nss: the database owner cannot reach the database by its path; certutil works on a private copy", "db", d.hp, "uid", ctl.UID)
	wc, err := newWorkCopy(ctx, d, *r.user)
	if err != nil {
		return err
	}
	r.copy, r.view = wc, wc.dir
	return nil
}

// checkFiles checks cert9.db, key4.db and pkcs11.txt on open descriptors:
// regular files (not links elsewhere) owned by the directory's owner,
// without second hard links in a user's directory, writable by nobody
// else. It records their modes for finish.
func (r *runner) checkFiles() error {
	for _, name := range dbFiles {
		max := int64(maxCertDB)
		if name == "pkcs11.txt" {
			max = maxPKCS11
		}
		fi, err := r.dir.stat(name, max)
		if errors.Is(err, fs.ErrNotExist) && name != FormatCert9 {
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: %w", stores.ErrUnsafe, err)
		}
		if fi.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("%w: %s is writable by other users (mode %04o): chmod go-w it", stores.ErrUnsafe, name, fi.Mode().Perm())
		}
		r.saved[name] = fi
	}
	if m := r.saved[FormatCert9].Mode().Perm(); m&0o200 == 0 {
		return fmt.Errorf("%w: cert9.db has mode %04o (make it writable by its owner to let anchorwatch manage it)", ErrReadOnly, m)
	}
	return nil
}

// checkPassword runs certutil -K: with the empty password the token logs
// in silently; with a primary password it fails at once instead of
// leaving a half-done import (certutil -A imports the certificate before
// it authenticates to set the trust). Without a key4.db there is nothing
// to log in to (certutil -A makes one).
func (r *runner) checkPassword(ctx context.Context) error {
	if _, ok := r.saved["key4.db"]; !ok {
		return nil
	}
	out, _ := r.run(ctx, nil, "-K", "-d", "sql:"+r.view, "-f", os.DevNull)
	switch {
	case bytes.Contains(out, []byte("SEC_ERROR_BAD_PASSWORD")):
		return ErrPrimaryPassword
	case bytes.Contains(out, []byte("SEC_ERROR_READ_ONLY")) || bytes.Contains(out, []byte("SEC_ERROR_BAD_DATABASE")):
		return fmt.Errorf("certutil cannot open it: %s", firstLines(out))
	}
	return nil
}

// add imports der with the given nickname and trust ("C,,") through lib.
// On an existing certificate it changes the trust and keeps the
// nickname.
func (r *runner) add(ctx context.Context, lib nssLib, der []byte, nick, trust string) error {
	if nick == "" {
		return errors.New("certificate has no nickname")
	}
	in := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if out, err := r.runOn(ctx, lib, in, "-A", "-d", "sql:"+r.view, "-n", nick, "-t", trust, "-a", "-f", os.DevNull); err != nil {
		return fmt.Errorf("certutil -A -n %s -t %s on %s: %w: %s", nick, trust, lib, err, firstLines(out))
	}
	return nil
}

// delete removes the certificate named nick, and the trust object lib
// finds for it, through lib.
func (r *runner) delete(ctx context.Context, lib nssLib, nick string) error {
	if nick == "" {
		return errors.New("certificate has no nickname; delete it with a tool that takes a certificate handle")
	}
	if out, err := r.runOn(ctx, lib, nil, "-D", "-d", "sql:"+r.view, "-n", nick, "-f", os.DevNull); err != nil {
		return fmt.Errorf("certutil -D -n %s on %s: %w: %s", nick, lib, err, firstLines(out))
	}
	return nil
}

// legacyLib returns the NSS that writes legacy trust objects, or the
// modern one when the system NSS is itself >= 3.114.
func (r *runner) legacyLib() nssLib {
	if l, ok := r.libs.legacy(); ok {
		return l
	}
	return *r.libs.modern
}

// modernLib returns an NSS >= 3.114, or ErrNoModernNSS.
func (r *runner) modernLib() (nssLib, error) {
	if r.libs.modern == nil {
		return nssLib{}, ErrNoModernNSS
	}
	return *r.libs.modern, nil
}

// entries reads the database certutil works on.
func (r *runner) entries(ctx context.Context) ([]entry, error) {
	return readEntries(ctx, r.view)
}

// run runs certutil on the system NSS (see runOn).
func (r *runner) run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	return r.runOn(ctx, r.libs.system, stdin, args...)
}

// runOn runs certutil in a session of its own (no terminal to prompt
// on), as r.user, with a minimal environment and a deadline, on the NSS
// libraries of lib (a directory only root controls, see findLibs).
func (r *runner) runOn(ctx context.Context, lib nssLib, stdin []byte, args ...string) ([]byte, error) {
	env := []string{"LANG=C", "LC_ALL=C", "PATH=/usr/bin:/bin:/usr/sbin:/sbin", "HOME=" + r.view}
	if lib.dir != "" {
		env = append(env, "LD_LIBRARY_PATH="+lib.dir)
	}
	return fsroot.Tool{
		Path:  r.bin,
		Args:  args,
		Env:   env,
		Dir:   "/",
		Stdin: stdin,
		User:  r.user,
	}.Run(ctx)
}

// finish moves a private copy's result back (as the owner) or puts back
// the mode and owner each database file had before certutil ran, on the
// open file, never by path. It closes r.
func (r *runner) finish(changed bool) error {
	defer r.close()
	if r.copy != nil {
		if !changed {
			return nil
		}
		return r.copy.commit(r.dir, *r.user, r.saved)
	}
	for _, name := range dbFiles {
		prev, ok := r.saved[name]
		if !ok {
			continue
		}
		f, _, err := fsroot.OpenAt(r.dir.f, name, fsroot.Want{})
		if err != nil {
			continue // gone or replaced by something else: nothing to fix through it
		}
		uid, gid := fsroot.FileOwner(prev)
		if err := fsroot.Restore(f, prev.Mode(), uid, gid); err != nil {
			r.log.Warn("nss: cannot restore mode and owner", "file", f.Name(), "err", err)
		}
		f.Close()
	}
	return nil
}

func (r *runner) close() {
	if r.copy != nil {
		r.copy.remove()
	}
	r.dir.Close()
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
