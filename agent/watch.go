package agent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// watcher maps file-system events to the workers of the stores they
// concern. It watches directories, never single files: a directory watch
// survives a file being replaced by rename (the atomic write every careful
// tool does), so nothing needs re-arming when that happens. A directory
// that itself disappears is dropped and re-added by the next rescan.
type watcher struct {
	fw  *fsnotify.Watcher
	log *slog.Logger

	// discC receives when a directory where new stores appear changed in
	// a way that can mean a new (or a removed) store.
	discC chan struct{}

	mu    sync.Mutex
	files map[string][]*worker // an event on this exact path pokes these
	dirs  map[string][]*worker // an event on any child pokes these
	disc  map[string]bool      // directories watched for new stores
	added map[string]bool      // directories given to fsnotify
}

func newWatcher(log *slog.Logger) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	return &watcher{fw: fw, log: log, discC: make(chan struct{}, 1), files: map[string][]*worker{}, dirs: map[string][]*worker{},
		disc: map[string]bool{}, added: map[string]bool{}}, nil
}

// set replaces what is watched with the paths of the given workers and
// the directories where new stores appear (host paths).
func (w *watcher) set(workers []*worker, discovery []string) {
	files := map[string][]*worker{}
	dirs := map[string][]*worker{}
	want := map[string]bool{}
	disc := map[string]bool{}
	for _, d := range discovery {
		d = filepath.Clean(d)
		disc[d] = true
		want[d] = true
	}
	for _, wk := range workers {
		paths := wk.s.Watch().Paths
		isFile := map[string]bool{}
		for _, p := range paths {
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				isFile[p] = true
			}
		}
		for _, p := range paths {
			p = filepath.Clean(p)
			var targets []string
			if isFile[p] {
				// Adapters give resolved host paths: never follow a link
				// here, it could point outside the root.
				targets = append(targets, p)
				for _, t := range targets {
					files[t] = append(files[t], wk)
					want[filepath.Dir(t)] = true
				}
				continue
			}
			fi, err := os.Stat(p)
			if err != nil || !fi.IsDir() {
				continue // missing: the next rescan looks again
			}
			want[p] = true
			// A directory listed beside files inside it is watched for
			// those files only (renames replace them); otherwise any
			// change inside it concerns the store.
			hasChild := false
			for f := range isFile {
				hasChild = hasChild || filepath.Dir(f) == p
			}
			if !hasChild {
				dirs[p] = append(dirs[p], wk)
			}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.files, w.dirs, w.disc = files, dirs, disc
	for d := range w.added {
		if !want[d] {
			_ = w.fw.Remove(d)
			delete(w.added, d)
		}
	}
	for d := range want {
		if w.added[d] {
			continue
		}
		if err := w.fw.Add(d); err != nil {
			w.log.Warn("cannot watch directory; the rescan still covers it", "dir", d, "err", err)
			continue
		}
		w.added[d] = true
	}
}

func (w *watcher) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			w.dispatch(ev)
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			// An overflow loses events: treat every store as changed.
			w.log.Warn("file watch error; checking every store", "err", err)
			w.mu.Lock()
			for _, ws := range w.files {
				for _, wk := range ws {
					wk.poke()
				}
			}
			for _, ws := range w.dirs {
				for _, wk := range ws {
					wk.poke()
				}
			}
			w.mu.Unlock()
		}
	}
}

func (w *watcher) dispatch(ev fsnotify.Event) {
	name := filepath.Clean(ev.Name)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, wk := range w.files[name] {
		wk.poke()
	}
	for _, wk := range w.dirs[filepath.Dir(name)] {
		wk.poke()
	}
	if w.discovery(ev, name) {
		signal(w.discC)
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		if w.added[name] {
			// A watched directory went away: fsnotify dropped it.
			delete(w.added, name)
			for _, wk := range w.dirs[name] {
				wk.poke()
			}
		}
	}
}

// discovery reports whether ev, in a directory watched for new stores,
// can mean a store appeared or went away: a file a store is made of
// (cert9.db, cacerts) or that lists profiles (profiles.ini), a directory
// created (a new profile, runtime or home), or a watched directory gone.
// Everything else there (a browser writing its profile) is ignored.
func (w *watcher) discovery(ev fsnotify.Event, name string) bool {
	if !w.disc[filepath.Dir(name)] && !w.disc[name] {
		return false
	}
	if ev.Op == fsnotify.Chmod {
		return false
	}
	if discoveryNames[filepath.Base(name)] {
		return true
	}
	if ev.Has(fsnotify.Create) {
		fi, err := os.Stat(name)
		return err == nil && fi.IsDir()
	}
	return (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) && w.disc[name]
}

func (w *watcher) close() error { return w.fw.Close() }
