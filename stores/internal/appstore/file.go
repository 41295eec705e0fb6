package appstore

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/internal/pembundle"
)

// MaxBundle bounds a bundle file: certifi's is about 300 KiB.
const MaxBundle = 16 << 20

// FileConfig describes a File store.
type FileConfig struct {
	Kind   stores.Kind
	Path   string // inside the root, resolved
	Format string // the mechanism, reported as Info.Format (e.g. "certifi")
	App    string // the program(s) reading it
	Note   string // set when the store cannot be handled; reported as its error
	// Actor is the owner of the configuration naming the file: reads and
	// writes happen as that user. Zero for files found by location or
	// named by root's configuration.
	Actor fsroot.Scope
	// VendorHeaders marks certificates preceded by a certifi-style
	// "# SHA256 Fingerprint:" header that matches them as Vendor, in files
	// only root can change.
	VendorHeaders bool
	// Create lets Install create the file when it is missing (a bundle
	// Anchorwatch owns); otherwise a missing file is an error.
	Create bool
	Cache  *pembundle.Cache // shared parse cache; nil makes a private one
}

// File is a Store on one PEM bundle that a program reads as its trust
// anchors: every certificate in it is trusted for TLS server auth.
type File struct {
	cfg   FileConfig
	info  stores.Info
	root  string
	scope fsroot.Scope
}

// NewFile returns the store. It looks at the file's directory once (an
// lstat) to name the owner and say whether it is writable from here.
func NewFile(env stores.Env, users Users, cfg FileConfig) *File {
	env = env.Normalize()
	if cfg.Cache == nil {
		cfg.Cache = pembundle.NewCache()
	}
	f := &File{cfg: cfg, root: env.Root}
	f.info = stores.Info{
		ID:     string(cfg.Kind) + ":" + cfg.Path,
		Kind:   cfg.Kind,
		Path:   cfg.Path,
		Format: cfg.Format,
		App:    cfg.App,
		Note:   cfg.Note,
	}
	sc, err := fsroot.DirScope(env.Root, path.Dir(cfg.Path))
	if cfg.Actor.User() {
		sc = cfg.Actor
	}
	f.scope = sc
	if sc.User() {
		f.info.Owner = users.Name(sc.UID)
	}
	f.info.Writable = err == nil && cfg.Note == "" && fsroot.Writable(sc)
	return f
}

// Info describes the store.
func (f *File) Info() stores.Info { return f.info }

// Watch names the file and its directory (rename-replace shows up there).
func (f *File) Watch() stores.WatchSpec {
	hp := fsroot.HostPath(f.root, f.cfg.Path)
	return stores.WatchSpec{Paths: []string{hp, path.Dir(hp)}}
}

// List parses the bundle. Every certificate is trusted for TLS server auth
// by the program reading the file.
func (f *File) List(ctx context.Context) ([]stores.Anchor, error) {
	if f.cfg.Note != "" {
		return nil, errors.New(f.cfg.Note)
	}
	buf := f.cfg.Cache.Buffer()
	defer f.cfg.Cache.Release(buf)
	data, info, err := fsroot.ReadBeneathBuf(ctx, f.cfg.Actor, f.root, f.cfg.Path, MaxBundle, *buf)
	if err != nil {
		return nil, f.explain(err)
	}
	*buf = data[:0]
	p, err := f.cfg.Cache.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (the program reading it fails to load it too)", f.cfg.Path, err)
	}
	out := slices.Clone(p.Anchors)
	if !f.cfg.VendorHeaders || info.UID != 0 || f.scope.User() || f.scope.Unsafe != "" {
		for i := range out {
			out[i].Vendor = false // only root-owned installs speak for the vendor
		}
	}
	return out, nil
}

// Install appends each certificate the bundle lacks.
func (f *File) Install(ctx context.Context, certs []*x509.Certificate, opt stores.Options) ([]stores.Change, error) {
	var changes []stores.Change
	err := f.update(ctx, opt, func(blocks []pembundle.Block, data []byte) ([]byte, error) {
		have := map[string]bool{}
		for _, b := range blocks {
			have[b.SHA256] = b.IsCert()
		}
		changes = changes[:0]
		var add []*x509.Certificate
		for _, c := range certs {
			fp := stores.SHA256(c)
			if have[fp] {
				changes = append(changes, stores.Change{SHA256: fp, Action: stores.ActionUnchanged})
				continue
			}
			have[fp] = true
			add = append(add, c)
			changes = append(changes, stores.Change{SHA256: fp, Action: stores.ActionAdded})
		}
		if len(add) == 0 {
			return data, nil
		}
		return pembundle.Append(data, add), nil
	})
	return changes, err
}

// Remove cuts every block holding one of the certificates.
func (f *File) Remove(ctx context.Context, sha256s []string, opt stores.Options) ([]stores.Change, error) {
	var changes []stores.Change
	err := f.update(ctx, opt, func(blocks []pembundle.Block, data []byte) ([]byte, error) {
		have := map[string]bool{}
		for _, b := range blocks {
			have[b.SHA256] = have[b.SHA256] || b.IsCert()
		}
		changes = changes[:0]
		drop := map[string]bool{}
		for _, fp := range sha256s {
			if have[fp] && !drop[fp] {
				drop[fp] = true
				changes = append(changes, stores.Change{SHA256: fp, Action: stores.ActionRemoved})
			} else {
				changes = append(changes, stores.Change{SHA256: fp, Action: stores.ActionUnchanged})
			}
		}
		if len(drop) == 0 {
			return data, nil
		}
		out := pembundle.Remove(data, blocks, drop)
		if _, err := pembundle.Parse(out); err != nil {
			return nil, fmt.Errorf("removing the blocks would leave text that no longer parses (%v): edit the file by hand", err)
		}
		return out, nil
	})
	return changes, err
}

// update runs one read-modify-write of the bundle through fsroot.
func (f *File) update(ctx context.Context, opt stores.Options, edit func([]pembundle.Block, []byte) ([]byte, error)) error {
	if f.cfg.Note != "" {
		return fmt.Errorf("%w: %s", stores.ErrNotSupported, f.cfg.Note)
	}
	_, err := fsroot.Update(ctx, f.root, f.cfg.Path, fsroot.UpdateOptions{Max: MaxBundle, Mode: 0o644, DryRun: opt.DryRun, As: f.cfg.Actor},
		func(old []byte, exists bool) ([]byte, error) {
			if !exists && !f.cfg.Create {
				return nil, fmt.Errorf("%w: the file is gone", fs.ErrNotExist)
			}
			blocks, err := pembundle.Parse(old)
			if err != nil {
				return nil, fmt.Errorf("not edited: %w", err)
			}
			return edit(blocks, old)
		})
	return f.explain(err)
}

// explain adds what to do to the errors a user meets.
func (f *File) explain(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fsroot.ErrUserTree):
		return fmt.Errorf("%w (the file is %s's: run `anchorwatch install` as %s, or let the agent on a Linux host do it)", err, f.info.Owner, f.info.Owner)
	case errors.Is(err, fsroot.ErrSymlink):
		return fmt.Errorf("%w: Anchorwatch does not follow links in a tree a user may change; make it a regular file", err)
	case errors.Is(err, fsroot.ErrUnsafeDir):
		return fmt.Errorf("%w: fix the directory's mode (chmod o-w,g-w) so that only its owner may write it", err)
	}
	return err
}
