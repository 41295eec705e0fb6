//go:build linux

package system

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// op is one file change: write data to p (inside the root), or delete p.
type op struct {
	p    string
	data []byte
	del  bool
}

// undo restores one file changed by apply.
type undo struct {
	p       string
	old     []byte
	existed bool
}

// Install writes each certificate as a PEM anchor file named
// stores.Label(cert)+".crt" in the family's anchors directory and runs the
// family's refresh tool, then checks that the bundle applications read now
// holds every certificate. A certificate is unchanged when the bundle
// already trusts it and an anchors-directory file holds it. On any error
// the anchor files are restored to what they were. Long: write, refresh,
// check and roll back are one transaction over the same plan.
func (s *Store) Install(ctx context.Context, certs []*x509.Certificate, opt stores.Options) ([]stores.Change, error) {
	pl, st, done, err := s.begin(ctx, opt)
	if err != nil {
		return nil, err
	}
	defer done(false)
	var (
		ops     []op
		changes []stores.Change
		seen    = map[string]bool{}
		refresh bool
	)
	for _, c := range certs {
		if c == nil {
			return nil, errors.New("install: nil certificate")
		}
		fp := stores.SHA256(c)
		if seen[fp] {
			continue
		}
		seen[fp] = true
		blockedBy := st.blocked[fp]
		if blockedBy == "" {
			blockedBy = st.blockSPKI[sum256(c.RawSubjectPublicKeyInfo)]
		}
		if blockedBy != "" {
			if !ours(blockedBy) {
				return nil, fmt.Errorf("%s store: %q (sha256 %s…) is in the %s blocklist %s: that is an explicit distrust Anchorwatch does not override; remove that file and run %s, then install again", s.fam.Name, c.Subject.CommonName, fp[:16], display(s.fam.Name), blockedBy, s.refreshName())
			}
			ops = append(ops, op{p: blockedBy, del: true})
		}
		name := path.Join(s.fam.AnchorsDir, stores.Label(c)+".crt")
		want := s.anchorPEM(c)
		_, inBundle := st.inBundle[fp]
		trusted := inBundle && blockedBy == ""
		same, ours, held := false, false, false
		for _, f := range st.files {
			switch {
			case f.Path == name:
				same = bytes.Equal(f.Data, want)
				ours = f.holds(fp)
			case f.Ignored == "" && f.holds(fp):
				held = true // an administrator's anchor: left as it is
			}
		}
		if trusted && (same || held && !ours) {
			changes = append(changes, stores.Change{SHA256: fp, Action: stores.ActionUnchanged})
			continue
		}
		if !same && (!held || ours) {
			ops = append(ops, op{p: name, data: want}) // new, or ours in an older form (trusted for every purpose)
		}
		refresh = true
		action := stores.ActionAdded
		if _, listed := st.reasons[fp]; listed || inBundle {
			action = stores.ActionTrusted // present, trust fixed or narrowed
		}
		changes = append(changes, stores.Change{SHA256: fp, Action: action})
	}
	if opt.DryRun || (!refresh && len(ops) == 0) {
		return changes, nil
	}
	// Check the result in what applications read.
	err = s.finish(ctx, pl, ops, done, func(after *state) error {
		for _, c := range certs {
			fp := stores.SHA256(c)
			if _, ok := after.inBundle[fp]; !ok {
				why := after.reasons[fp]
				if why == "" {
					why = "no trust source holds it"
				}
				return fmt.Errorf("%s store: after %s the bundle %s still lacks %q (sha256 %s…): %s", s.fam.Name, s.refreshName(), s.fam.Bundle, c.Subject.CommonName, fp[:16], why)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return changes, nil
}

// Remove deletes every anchors-directory file holding one of the
// certificates (a file holding others too is rewritten without it). A
// Debian-family CA selected in ca-certificates.conf is deselected there
// with "!", as dpkg-reconfigure does; a CA that p11-kit families ship in
// their own set is blocklisted with a file of ours. Then the bundle is
// refreshed and checked.
func (s *Store) Remove(ctx context.Context, sha256s []string, opt stores.Options) ([]stores.Change, error) {
	pl, st, done, err := s.begin(ctx, opt)
	if err != nil {
		return nil, err
	}
	defer done(false)
	var (
		ops     []op
		changes []stores.Change
		refresh bool
		gone    []string
		drop    = map[string]bool{}
		conf    = confEdit{deselect: map[string]bool{}} // conf lines to deselect
	)
	fps, err := stores.Fingerprints(sha256s)
	if err != nil {
		return nil, fmt.Errorf("remove: %w", err)
	}
	for _, fp := range fps {
		idx, inBundle := st.inBundle[fp]
		present := inBundle || st.heldLocally(fp)
		drop[fp] = true
		for _, line := range st.confSel[fp] {
			present = true
			conf.deselect[line] = true
		}
		if inBundle && st.vendor[fp] && s.fam.P11Kit && st.blocked[fp] == "" {
			c := st.certs[idx]
			ops = append(ops, op{
				p:    path.Join(s.blocklistDir(), stores.Label(c)+".pem"),
				data: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}),
			})
		}
		action := stores.ActionUnchanged
		if present {
			action = stores.ActionRemoved
			refresh = true
			gone = append(gone, fp)
		}
		changes = append(changes, stores.Change{SHA256: fp, Action: action})
	}
	ops = append(ops, anchorOps(st, drop)...)
	if cop, ok, err := s.confOp(conf); err != nil {
		return nil, err
	} else if ok {
		ops = append(ops, cop)
	}
	if opt.DryRun || !refresh {
		return changes, nil
	}
	err = s.finish(ctx, pl, ops, done, func(after *state) error {
		for _, fp := range gone {
			if _, ok := after.inBundle[fp]; ok && after.blocked[fp] == "" {
				return fmt.Errorf("%s store: after %s the bundle %s still holds sha256 %s… (from %s): remove it from there", s.fam.Name, s.refreshName(), s.fam.Bundle, fp[:16], orUnknown(after.source[fp]))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return changes, nil
}

// begin starts Install or Remove: the refresh plan (its error only
// matters when writing), the anchors directory prepared and locked
// (prepare), and the state the change is planned on. The caller defers
// done(false); finish calls done(true).
func (s *Store) begin(ctx context.Context, opt stores.Options) (plan, *state, func(ok bool), error) {
	if s.unknown != nil {
		return plan{}, nil, nil, s.unknown
	}
	pl, planErr := s.refreshPlan()
	if planErr != nil && !opt.DryRun {
		return plan{}, nil, nil, planErr
	}
	done, err := s.prepare(ctx, opt)
	if err != nil {
		return plan{}, nil, nil, err
	}
	st, err := s.read(ctx)
	if err != nil {
		done(false)
		return plan{}, nil, nil, err
	}
	return pl, st, done, nil
}

// finish writes ops and refreshes the bundle (commit), then checks the
// refreshed state with check. When either fails the previous files are
// restored and refreshed again (undo); on success it calls done(true).
func (s *Store) finish(ctx context.Context, pl plan, ops []op, done func(ok bool), check func(after *state) error) error {
	undos, err := s.commit(ctx, pl, ops)
	if err != nil {
		return err
	}
	after, err := s.read(ctx)
	if err == nil {
		err = check(after)
	}
	if err != nil {
		return s.undo(ctx, pl, undos, err)
	}
	done(true)
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown source"
	}
	return s
}

// holds reports whether the file holds the certificate fp.
func (f anchorFile) holds(fp string) bool {
	for _, e := range f.Certs {
		if e.sha256() == fp {
			return true
		}
	}
	return false
}

// ours reports whether a blocklist file is one Anchorwatch wrote.
func ours(p string) bool { return strings.HasPrefix(path.Base(p), stores.LabelPrefix) }

// blocklistDir is where Remove blocklists a vendor CA: the first existing
// administrator blocklist directory, else the first of the family.
func (s *Store) blocklistDir() string {
	for _, d := range s.fam.Blocklists {
		if strings.HasPrefix(d, "/etc/") {
			if fi, err := os.Stat(s.host(d)); err == nil && fi.IsDir() {
				return d
			}
		}
	}
	return s.fam.Blocklists[0]
}

// prepare creates the anchors directory when missing (not in a dry run)
// and locks it, so cooperating Anchorwatch processes serialize. The
// returned func unlocks; called with false it also removes directories
// prepare created, to leave the store as it was on error.
func (s *Store) prepare(ctx context.Context, opt stores.Options) (func(ok bool), error) {
	hdir := fsroot.Join(s.root, s.fam.AnchorsDir)
	if r, err := fsroot.Resolve(s.root, s.fam.AnchorsDir); err == nil {
		hdir = fsroot.Join(s.root, r)
	}
	if opt.DryRun {
		return func(bool) {}, nil
	}
	if err := s.rootOnly(hdir); err != nil {
		return nil, err
	}
	var created []string
	for d := hdir; ; d = path.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == "/" || d == "." {
			break
		}
		created = append(created, d)
	}
	if err := os.MkdirAll(hdir, 0o755); err != nil {
		return nil, fmt.Errorf("%s store: create anchors directory: %w", s.fam.Name, err)
	}
	unlock, err := fsroot.LockContext(ctx, hdir)
	if err != nil {
		removeDirs(created)
		return nil, fmt.Errorf("%s store: %w", s.fam.Name, err)
	}
	finished := false
	return func(ok bool) {
		if finished && !ok {
			return
		}
		finished = true
		unlock()
		if !ok {
			removeDirs(created)
		}
	}, nil
}

// rootOnly refuses to write into hdir (a host directory, or where it
// will be created) when anyone but root can change what it names: the
// system store is root's, and a user who could swap a directory on the
// way could have root write (and the refresh tool trust) their files.
func (s *Store) rootOnly(hdir string) error {
	ctl, err := fsroot.Controller(hdir)
	if err != nil {
		return fmt.Errorf("%s store: %w: %w: anchorwatch writes the system store only where root alone can", s.fam.Name, stores.ErrUnsafe, err)
	}
	if ctl.UID != 0 {
		return fmt.Errorf("%s store: %w: %s can be changed by uid %d (it owns %s): anchorwatch writes the system store only where root alone can", s.fam.Name, stores.ErrUnsafe, hdir, ctl.UID, ctl.By)
	}
	return nil
}

func removeDirs(ds []string) {
	for _, d := range ds { // deepest first
		_ = os.Remove(d)
	}
}

// commit applies ops and runs the refresh; if either fails, the files are
// restored before returning the error. (A refresh tool that failed half
// way may have rewritten its output; running it again after fixing the
// cause rebuilds it from the restored sources.)
func (s *Store) commit(ctx context.Context, pl plan, ops []op) ([]undo, error) {
	undos, err := s.apply(ops)
	if err != nil {
		return nil, err
	}
	if err := s.refresh(ctx, pl); err != nil {
		if rerr := s.rollback(undos); rerr != nil {
			return nil, fmt.Errorf("%w (and restoring the previous files failed: %v)", err, rerr)
		}
		return nil, err
	}
	return undos, nil
}

// undo puts the sources back after a refresh whose result was wrong and
// refreshes again, so the store ends as it started; it returns cause,
// annotated when the restore failed.
func (s *Store) undo(ctx context.Context, pl plan, undos []undo, cause error) error {
	if err := s.rollback(undos); err != nil {
		return fmt.Errorf("%w (and restoring the previous files failed: %v)", cause, err)
	}
	if err := s.refresh(ctx, pl); err != nil {
		return fmt.Errorf("%w (and refreshing after restoring the previous files failed: %v)", cause, err)
	}
	return cause
}

func (s *Store) apply(ops []op) ([]undo, error) {
	var undos []undo
	for _, o := range ops {
		hp := s.host(o.p)
		if err := s.rootOnly(path.Dir(hp)); err != nil {
			if rerr := s.rollback(undos); rerr != nil {
				return nil, fmt.Errorf("%w (and restoring failed: %v)", err, rerr)
			}
			return nil, err
		}
		old, rerr := fsroot.ReadFile(hp, fsroot.Want{Max: maxFile})
		u := undo{p: o.p, old: old, existed: rerr == nil}
		var err error
		if o.del {
			err = os.Remove(hp)
			if errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
		} else {
			if err = os.MkdirAll(path.Dir(hp), 0o755); err == nil {
				err = fsroot.WriteFileAtomic(hp, o.data, 0o644)
			}
		}
		if err != nil {
			if rerr := s.rollback(undos); rerr != nil {
				return nil, fmt.Errorf("%s store: %s: %w (and restoring failed: %v)", s.fam.Name, o.p, err, rerr)
			}
			return nil, fmt.Errorf("%s store: %s: %w%s", s.fam.Name, o.p, err, hint(err))
		}
		undos = append(undos, u)
	}
	return undos, nil
}

func (s *Store) rollback(undos []undo) error {
	var errs []error
	for i := len(undos) - 1; i >= 0; i-- {
		u := undos[i]
		hp := s.host(u.p)
		if u.existed {
			if err := fsroot.WriteFileAtomic(hp, u.old, 0o644); err != nil {
				errs = append(errs, err)
			}
		} else if err := os.Remove(hp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// hint explains a write error a user can act on.
func hint(err error) string {
	switch {
	case errors.Is(err, syscall.EROFS), errors.Is(err, fs.ErrPermission):
		return " (the store is read-only here: check the mount, `lsattr -d` for the immutable flag, and the privileges Anchorwatch runs with)"
	}
	return ""
}

// anchorPEM is the anchor file Anchorwatch writes for c: for p11-kit
// families an OpenSSL TRUSTED CERTIFICATE trusted for TLS server
// authentication only (p11-kit extracts it into the TLS bundles and the
// OpenSSL trust bundle with that restriction, never into the e-mail or
// code-signing ones); a plain certificate for Debian's tool, whose
// bundle cannot restrict purposes.
func (s *Store) anchorPEM(c *x509.Certificate) []byte {
	if s.fam.P11Kit {
		return trustedCertPEM(c.Raw, stores.Label(c))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
