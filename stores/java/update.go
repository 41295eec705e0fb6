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
// file only once they hold it. Right before the rename the file we read is
// compared with what the path names (releaseForReplace): one written to
// since is read again in another round rather than replaced.
//
// keytool takes no lock: it reads the whole keystore, changes it in memory
// and writes it back in place (open with O_TRUNC, write). Racing it can
// lose an entry in two ways, and update repairs both:
//
//  1. keytool opened the old file for writing between our last compare
//     and our rename: its entry went into the inode we just replaced. We
//     keep that inode open from our read on; if it changed after our read,
//     we wait for keytool to finish, read its entries from it and add the
//     trusted certificates missing from the current file, in another
//     round. Entries found this way are never given up: they are merged
//     before update returns, whatever else happens, and watched like our
//     own change.
//  2. keytool read the old file before our rename and writes after it:
//     its write replaces our content in place (ours lost, its entry
//     kept). For settle (1 s; keytool's read-to-write gap is a few hundred
//     ms) after each write we watch the path; when the file we wrote is
//     rewritten in place and our change (or a merged entry) is no longer
//     there, we apply it again in another round. A caller that watches the
//     store itself (Options.Watched: the agent) skips this for its own
//     change.
//
// A file replaced by rename after our write comes from a writer that read
// our version (another anchorwatch holds the lock while it reads and
// writes): it is not fought. If it undid our change on purpose (the agent
// putting back a CA its policy installs while an operator removes it) the
// caller gets errUndone, saying so, instead of a write war.
//
// A half-written file (keytool mid-write) is re-read until it stops
// changing. Each round takes the lock and reads afresh, so the result is
// always "their latest file plus our change".
const (
	maxRounds  = 8  // rounds that apply our change
	maxRetries = 32 // rounds read again because the file changed just before our rename
)

// errUndone: another writer replaced the keystore after our write and its
// version no longer has our change.
var errUndone = errors.New("another program replaced the keystore right after this change and undid it " +
	"(the anchorwatch agent puts back a CA its policy installs: change the policy instead)")

// mutateFunc applies a change to a decoded keystore and says what it did.
type mutateFunc func(*keystoreFile) ([]stores.Change, error)

// update applies mutate to the keystore and writes it back if it changed
// anything. It returns the changes of the first round (what the caller
// asked for, against the store as it was).
func (s *Store) update(ctx context.Context, opt stores.Options, mutate mutateFunc) ([]stores.Change, error) {
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

// writeRun is one update's progress across its rounds.
type writeRun struct {
	mutate  mutateFunc // nil once our change is settled or undone: only merges are left
	foreign []entry    // trusted entries a concurrent writer put into a file we replaced
	applied int        // rounds that applied mutate
	total   int        // rounds that read and wrote
	retries int        // rounds read again (errChangedBeforeReplace)
	undone  bool
}

// rounds runs locked read-modify-write rounds until the keystore holds
// the change (or another writer undid it on purpose), every entry found
// in a file we replaced is merged, and nobody overwrote either.
func (s *Store) rounds(ctx context.Context, opt stores.Options, mutate mutateFunc) ([]stores.Change, error) {
	run := &writeRun{mutate: mutate}
	var result []stores.Change
	for {
		if err := run.budget(); err != nil {
			return nil, err
		}
		rctx, cancel := run.context(ctx)
		written, changes, lost, err := s.round(rctx, opt.DryRun, run.mutate, run.foreign)
		cancel()
		if errors.Is(err, errChangedBeforeReplace) {
			run.retries++
			continue // another writer got in first: read it again
		}
		if err != nil {
			return nil, err
		}
		run.total++
		if run.mutate != nil {
			run.applied++
			if result == nil {
				result = changes
			}
		}
		if written == nil {
			return result, run.err() // nothing (more) to write, or a dry run
		}
		if len(lost) > 0 {
			written.close()
			run.foreign = append(run.foreign, lost...)
			continue
		}
		if opt.Watched {
			// The caller heals its own change; only merged entries are ours to guard.
			run.mutate = nil
		}
		rctx, cancel = run.context(ctx)
		again, err := s.watchWritten(rctx, written, run)
		cancel()
		if err != nil {
			return nil, err
		}
		if !again {
			return result, run.err()
		}
	}
}

// budget fails once the rounds are spent. Applying our change again stops
// after maxRounds; merging what we found in a replaced file goes on for as
// many rounds again, so those entries are not dropped because our own
// change could not be kept.
func (r *writeRun) budget() error {
	if r.retries >= maxRetries {
		return fmt.Errorf("gave up after %d attempts: the keystore changes every time it is read", r.retries)
	}
	if r.applied >= maxRounds && r.mutate != nil {
		if len(r.foreign) == 0 {
			return fmt.Errorf("gave up after %d rounds: another program keeps rewriting the keystore", r.applied)
		}
		r.mutate = nil // finish merging the entries found
	}
	if r.total >= 2*maxRounds {
		return fmt.Errorf("gave up after %d rounds: another program keeps rewriting the keystore; %d entries it wrote into a replaced copy may be missing", r.total, len(r.foreign))
	}
	return nil
}

// context is what a round runs under: the caller's, or once the caller
// has stopped waiting while entries found in a replaced file are still to
// be merged, a context of its own bounded by repairTimeout — those entries
// exist nowhere else. Our own change is then no longer applied.
func (r *writeRun) context(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Err() == nil || len(r.foreign) == 0 {
		return ctx, func() {}
	}
	r.mutate = nil
	return context.WithTimeout(context.WithoutCancel(ctx), repairTimeout)
}

// repairTimeout bounds each round that merges, after the caller stopped
// waiting, entries found in a replaced file.
const repairTimeout = 10 * time.Second

func (r *writeRun) err() error {
	if r.undone {
		return errUndone
	}
	return nil
}

// writtenFile is what a round wrote: the file, opened right after the
// rename and kept open while it is watched (so its inode number is not
// reused by the next writer's file), and its stat then.
type writtenFile struct {
	f  *os.File
	st os.FileInfo
}

func (w *writtenFile) close() {
	if w != nil && w.f != nil {
		w.f.Close()
	}
}

// round is one locked read-modify-write: it merges foreign (the trusted
// entries another writer put into a file we replaced) and applies mutate
// (nil: merge only). It returns what it wrote (nil when nothing was
// written), the changes mutate made, and the trusted entries another
// writer put into the file this round replaced.
func (s *Store) round(ctx context.Context, dryRun bool, mutate mutateFunc, foreign []entry) (written *writtenFile, changes []stores.Change, lost []entry, err error) {
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
	merged, err := mergeForeign(kf, foreign)
	if err != nil {
		return nil, nil, nil, err
	}
	if mutate != nil {
		if changes, err = mutate(kf); err != nil {
			return nil, nil, nil, err
		}
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
	wf, wst, err := openKeystore(s.host)
	if err != nil {
		return nil, nil, nil, err
	}
	// Once the file is replaced, what another writer put into the old
	// one is ours to keep, whether or not the caller still waits.
	lost, err = s.replacedWrites(context.WithoutCancel(ctx), f, st0, data)
	if err != nil {
		wf.Close()
		return nil, nil, nil, err
	}
	return &writtenFile{f: wf, st: wst}, changes, lost, nil
}

// mergeForeign adds to kf the trusted entries of foreign it lacks (by
// certificate, or by alias when another certificate took the alias since).
func mergeForeign(kf *keystoreFile, foreign []entry) (merged bool, err error) {
	for _, e := range foreign {
		c := e.certs[0]
		if trusted, _ := kf.has(stores.SHA256(c)); trusted || kf.hasAlias(e.alias) {
			continue
		}
		if err := kf.addTrusted(e.alias, c, e.created); err != nil {
			return false, err
		}
		merged = true
	}
	return merged, nil
}

// missingForeign reports whether kf lacks a trusted entry of foreign.
func missingForeign(kf *keystoreFile, foreign []entry) bool {
	for _, e := range foreign {
		if trusted, _ := kf.has(stores.SHA256(e.certs[0])); !trusted {
			return true
		}
	}
	return false
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

// watchWritten watches what a round wrote unless there is nothing left
// to guard, and closes it.
func (s *Store) watchWritten(ctx context.Context, w *writtenFile, run *writeRun) (again bool, err error) {
	defer w.close()
	if run.mutate == nil && len(run.foreign) == 0 {
		return false, nil
	}
	return s.watch(ctx, w, run)
}

// watch polls the keystore for s.settle after our write (w). It reports
// that another round is needed when the file we wrote was rewritten in
// place (a writer that read before our rename, like keytool) and lost our
// change or an entry we merged, or when any writer's version lost a merged
// entry. A writer that replaced the file by rename read our version (an
// anchorwatch holds the lock): it is watched on as the new baseline if it
// kept our change; if it undid it, run.undone is set and our change is
// not applied again.
func (s *Store) watch(ctx context.Context, w *writtenFile, run *writeRun) (again bool, err error) {
	ours, last := w.st, w.st
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
		if missingForeign(kf, run.foreign) {
			return true, nil
		}
		if run.mutate == nil {
			continue
		}
		changes, err := run.mutate(kf)
		if err != nil {
			return false, err
		}
		switch {
		case !stores.Changed(changes):
			ours = st // our change is there: guard this version now
		case os.SameFile(ours, st):
			return true, nil // overwritten in place by a stale copy
		default:
			run.undone, run.mutate = true, nil // replaced by a writer that read ours
			if len(run.foreign) == 0 {
				return false, nil
			}
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
