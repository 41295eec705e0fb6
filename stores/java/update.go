package java

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// How a keystore is changed without corrupting it or losing anybody's
// entry.
//
// Every write is atomic: the new keystore goes to a temporary file in the
// same directory, is fsynced and renamed over the old one (mode and owner
// kept, fsroot.WriteFileAtomic), so a crash or SIGKILL leaves either the
// old or the new keystore, never a mix.
//
// Other anchorwatch processes serialize with an flock on the keystore,
// re-taken whenever the path has been replaced (lockKeystore), and read the
// file only once they hold it.
//
// keytool takes no lock: it reads the whole keystore, changes it in memory
// and writes it back in place (open with O_TRUNC, write). Racing it can
// lose an entry in two ways, and update repairs both:
//
//  1. keytool opened the old file for writing before our rename: its
//     entry went into the inode we just replaced. We keep that inode open
//     from our read on; if it changed after our read, we wait for keytool
//     to finish, read its entries from it and add the trusted certificates
//     missing from the current file, in another round.
//  2. keytool read the old file before our rename and writes after it:
//     its write replaces our content (ours lost, its entry kept). For
//     settle (1 s; keytool's read-to-write gap is a few hundred ms) after
//     each write we watch the path; when it changes we re-read it and, if
//     our change is no longer there, apply it again in another round.
//
// A half-written file (keytool mid-write) is re-read until it stops
// changing. Each round takes the lock and reads afresh, so the result is
// always "their latest file plus our change".
const maxRounds = 8

// update applies mutate to the keystore and writes it back if it changed
// anything. It returns the changes of the first round (what the caller
// asked for, against the store as it was).
func (s *Store) update(ctx context.Context, opt stores.Options, mutate func(*keystoreFile) ([]stores.Change, error)) ([]stores.Change, error) {
	if s.info.Note != "" {
		return nil, s.errorf(fmt.Errorf("%s: %w", s.info.Note, stores.ErrNotSupported))
	}
	who, err := s.writer()
	if err != nil {
		return nil, s.errorf(err)
	}
	var result []stores.Change
	err = fsroot.AsUser(who.UID, who.GID, func() error {
		var err error
		result, err = s.rounds(ctx, opt, mutate)
		return err
	})
	if err != nil {
		return nil, s.errorf(err)
	}
	return result, nil
}

// writer returns who reads and writes the keystore: root when only root
// controls its directory, else the one user who does — a runtime a user
// unpacked is that user's store, changed with their identity, so a link
// or a renamed directory of theirs can redirect nothing to where they
// could not write themselves. A directory more than one user can change,
// or a keystore in a user's directory that is not that user's, is
// refused.
func (s *Store) writer() (fsroot.User, error) {
	ctl, err := fsroot.Controller(dirOf(s.host))
	if err != nil {
		return fsroot.User{}, fmt.Errorf("%w: %w: anchorwatch does not write a keystore there", stores.ErrUnsafe, err)
	}
	if ctl.UID == 0 {
		return fsroot.User{}, nil
	}
	fi, err := os.Lstat(s.host)
	if err != nil {
		return fsroot.User{}, err
	}
	uid, gid := fsroot.FileOwner(fi)
	if uid != ctl.UID || fsroot.Links(fi) > 1 {
		return fsroot.User{}, fmt.Errorf("%w: the keystore (uid %d, %d links) lies in %s, which uid %d controls: anchorwatch writes only a keystore that user owns outright", stores.ErrUnsafe, uid, fsroot.Links(fi), ctl.By, ctl.UID)
	}
	return fsroot.User{UID: uid, GID: gid}, nil
}

// rounds runs locked read-modify-write rounds until the keystore holds
// the change and nobody overwrote it.
func (s *Store) rounds(ctx context.Context, opt stores.Options, mutate func(*keystoreFile) ([]stores.Change, error)) ([]stores.Change, error) {
	var (
		result  []stores.Change
		foreign []entry // trusted entries a concurrent writer put into a file we replaced
	)
	for round := 0; round < maxRounds; round++ {
		written, changes, lost, err := s.round(ctx, opt.DryRun, mutate, foreign)
		if errors.Is(err, errChangedBeforeReplace) {
			continue // another writer got in first: read it again
		}
		if err != nil {
			return nil, err
		}
		if result == nil {
			result = changes
		}
		if written == nil {
			return result, nil // nothing (more) to write, or a dry run
		}
		if len(lost) > 0 {
			foreign = append(foreign, lost...)
			continue
		}
		if opt.Watched {
			return result, nil // the caller watches the file and heals a racing writer's overwrite
		}
		again, err := s.watch(ctx, mutate)
		if err != nil {
			return nil, err
		}
		if !again {
			return result, nil
		}
	}
	return nil, fmt.Errorf("gave up after %d rounds: another program keeps rewriting the keystore", maxRounds)
}

// round is one locked read-modify-write. It returns the bytes written
// (nil when nothing was written), the changes mutate made, and the
// trusted entries another writer put into the file we replaced.
func (s *Store) round(ctx context.Context, dryRun bool, mutate func(*keystoreFile) ([]stores.Change, error), foreign []entry) (written []byte, changes []stores.Change, lost []entry, err error) {
	unlock, err := lockKeystore(ctx, s.host)
	if err != nil {
		return nil, nil, nil, err
	}
	defer unlock()
	f, st0, data, kf, err := s.readSettled(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	defer f.Close()
	merged := false
	for _, e := range foreign {
		c := e.certs[0]
		if trusted, _ := kf.has(stores.SHA256(c)); trusted || kf.hasAlias(e.alias) {
			continue
		}
		if err := kf.addTrusted(e.alias, c, e.created); err != nil {
			return nil, nil, nil, err
		}
		merged = true
	}
	changes, err = mutate(kf)
	if err != nil {
		return nil, nil, nil, err
	}
	if dryRun || (!merged && !stores.Changed(changes)) {
		return nil, changes, nil, nil
	}
	out, err := kf.encode()
	if err != nil {
		return nil, nil, nil, err
	}
	// never write what we could not read back ourselves
	if _, err := s.decode(out); err != nil {
		return nil, nil, nil, fmt.Errorf("internal error: the rewritten keystore does not read back (%v); store unchanged", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, err
	}
	if err := releaseForReplace(f, s.host, st0); err != nil {
		return nil, nil, nil, err
	}
	removeStaleTemps(s.host)
	if err := fsroot.WriteFileAtomic(s.host, out, 0o644); err != nil {
		return nil, nil, nil, fmt.Errorf("cannot write the keystore, store unchanged: %w", err)
	}
	lost, err = s.replacedWrites(ctx, f, st0, data)
	if err != nil {
		return nil, nil, nil, err
	}
	return out, changes, lost, nil
}

// readSettled opens and decodes the keystore. A file that does not decode
// while it is still changing (a writer mid-write) is read again.
func (s *Store) readSettled(ctx context.Context) (*os.File, os.FileInfo, []byte, *keystoreFile, error) {
	deadline := time.Now().Add(3 * time.Second)
	for {
		f, st, err := openKeystore(s.host)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		var kf *keystoreFile
		data, err := readKeystore(f)
		if err == nil {
			kf, err = s.decode(data)
		}
		if err == nil {
			return f, st, data, kf, nil
		}
		f.Close()
		if errors.Is(err, errWrongPassword) || st == nil || time.Now().After(deadline) {
			return nil, nil, nil, nil, err
		}
		if serr := sleep(ctx, 50*time.Millisecond); serr != nil {
			return nil, nil, nil, nil, serr
		}
		if now, serr := os.Stat(s.host); serr == nil && sameVersion(st, now) {
			return nil, nil, nil, nil, err // not changing: really broken
		}
	}
}

// replacedWrites checks the file we just replaced (still open as f) for
// writes made after our read, and returns the trusted entries they added.
func (s *Store) replacedWrites(ctx context.Context, f *os.File, st0 os.FileInfo, read []byte) ([]entry, error) {
	st, err := f.Stat()
	if err != nil || sameVersion(st0, st) {
		return nil, nil
	}
	// somebody is writing into it: wait until it decodes and stops changing
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
		st2, err := f.Stat()
		if err != nil {
			return nil, nil
		}
		if !sameVersion(st, st2) {
			st = st2
			continue
		}
		if st2.Size() > maxKeystore {
			return nil, nil
		}
		buf := make([]byte, st2.Size())
		if _, err := f.ReadAt(buf, 0); err != nil {
			continue
		}
		theirs, err := s.decode(buf)
		if err != nil {
			continue
		}
		ours, err := s.decode(read)
		if err != nil {
			return nil, nil
		}
		var lost []entry
		for _, e := range theirs.entries {
			if e.kind != kindTrusted || len(e.certs) != 1 {
				continue
			}
			if t, _ := ours.has(stores.SHA256(e.certs[0])); !t {
				lost = append(lost, e)
			}
		}
		return lost, nil
	}
	return nil, nil
}

// watch polls the keystore for s.settle after a write. When it changes and
// mutate would change it again (our change was overwritten), it reports
// that another round is needed.
func (s *Store) watch(ctx context.Context, mutate func(*keystoreFile) ([]stores.Change, error)) (bool, error) {
	last, err := os.Stat(s.host)
	if err != nil {
		return false, err
	}
	deadline := time.Now().Add(s.settle)
	for time.Now().Before(deadline) {
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return false, err
		}
		st, err := os.Stat(s.host)
		if err != nil || sameVersion(last, st) {
			continue
		}
		data, err := fsroot.ReadFile(s.host, keystoreWant)
		if err != nil {
			continue
		}
		kf, err := s.decode(data)
		if err != nil {
			continue // mid-write; look again
		}
		last = st
		changes, err := mutate(kf)
		if err != nil {
			return false, err
		}
		if stores.Changed(changes) {
			return true, nil
		}
	}
	return false, nil
}

// sameVersion reports whether two stats show the same, unchanged file.
func sameVersion(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func dirOf(p string) string { return filepath.Dir(p) }
