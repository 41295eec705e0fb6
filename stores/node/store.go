package node

import (
	"context"
	"crypto/x509"
	"fmt"
	"path"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/internal/appstore"
	"github.com/anchorwatch/anchorwatch/stores/internal/pembundle"
)

// EnvStore is NODE_EXTRA_CA_CERTS set system-wide: the variable in its
// source and the PEM file it names.
type EnvStore struct {
	info  stores.Info
	env   stores.Env
	users appstore.Users
	src   EnvSource
	cache *pembundle.Cache
}

// NewEnvStore returns the store of src; runtimes name the Node programs
// found (reported as Info.App).
func NewEnvStore(env stores.Env, users appstore.Users, src EnvSource, runtimes string) *EnvStore {
	env = env.Normalize()
	return &EnvStore{env: env, users: users, src: src, cache: pembundle.NewCache(), info: stores.Info{
		ID: string(stores.KindNode) + ":" + src.Where(), Kind: stores.KindNode, Path: src.Where(),
		Format: src.Format(), App: runtimes, Writable: true,
	}}
}

// Info describes the store.
func (s *EnvStore) Info() stores.Info { return s.info }

// Watch names the variable's source and our bundle.
func (s *EnvStore) Watch() stores.WatchSpec {
	w := s.src.Watch()
	inside, value := s.src.Bundle()
	hp := hostPath(s.src.RootOf(value), inside)
	w.Paths = append(w.Paths, hp, path.Dir(hp))
	return w
}

// target returns the file the variable names (or ours when it is unset),
// the root its path is under, whether the variable is set, and whether
// the file is ours.
func (s *EnvStore) target(ctx context.Context) (file *appstore.File, root string, set, ours bool, err error) {
	v, set, err := s.src.Get(ctx)
	if err != nil {
		return nil, "", false, false, err
	}
	inside, value := s.src.Bundle()
	if !set {
		v = value
	}
	p, ok := appstore.ConfigPath(v, "")
	if !ok {
		return nil, "", true, false, fmt.Errorf("%s=%q in %s is not an absolute path: node ignores it", Variable, v, s.src.Where())
	}
	ours = p == inside
	env := s.env
	env.Root = s.src.RootOf(v)
	cfg := appstore.FileConfig{Kind: stores.KindNode, Path: p, Create: ours, Cache: s.cache}
	if !ours {
		r, err := appstore.Resolve(env.Root, p)
		if err != nil {
			return nil, "", set, false, fmt.Errorf("%s names %s: %w", Variable, p, err)
		}
		cfg.Path = r
	}
	return appstore.NewFile(env, s.users, cfg), env.Root, set, ours, nil
}

// List returns the certificates of the file the variable names; none when
// it is not set (node then trusts its built-in roots only).
func (s *EnvStore) List(ctx context.Context) ([]stores.Anchor, error) {
	f, _, set, _, err := s.target(ctx)
	if err != nil || !set {
		return nil, err
	}
	return f.List(ctx)
}

// Install adds the certificates to the named file (ours, created, when the
// variable is unset) and sets the variable to ours when it is unset.
func (s *EnvStore) Install(ctx context.Context, certs []*x509.Certificate, opt stores.Options) ([]stores.Change, error) {
	f, root, set, ours, err := s.target(ctx)
	if err != nil {
		return nil, err
	}
	inside, _ := s.src.Bundle()
	switch {
	case ours && !opt.DryRun:
		if err := fsroot.MkdirRoot(root, path.Dir(inside), 0o755); err != nil {
			return nil, err
		}
	case ours && !fsroot.Exists(root, path.Dir(inside)):
		// A dry run before our bundle's directory exists: every CA
		// would be added (the file cannot be read to say otherwise).
		return added(certs), nil
	}
	changes, err := f.Install(ctx, certs, opt)
	if err != nil || set {
		return changes, err
	}
	_, value := s.src.Bundle()
	if err := s.src.Set(ctx, value, opt.DryRun); err != nil {
		return changes, fmt.Errorf("set %s in %s: %w", Variable, s.src.Where(), err)
	}
	for i := range changes {
		if changes[i].Action == stores.ActionUnchanged {
			changes[i].Action = stores.ActionTrusted // in the file, now named by the variable
		}
	}
	return changes, nil
}

// Remove takes the certificates out of the named file; when that file is
// ours and holds no certificate any more, it is deleted and the variable
// unset.
func (s *EnvStore) Remove(ctx context.Context, sha256s []string, opt stores.Options) ([]stores.Change, error) {
	f, root, set, ours, err := s.target(ctx)
	if err != nil || !set {
		return unchanged(sha256s), err
	}
	changes, err := f.Remove(ctx, sha256s, opt)
	if err != nil || !ours || opt.DryRun {
		return changes, err
	}
	left, err := f.List(ctx)
	if err != nil || len(left) > 0 {
		return changes, err
	}
	if err := s.src.Unset(ctx, false); err != nil {
		return changes, fmt.Errorf("unset %s in %s: %w", Variable, s.src.Where(), err)
	}
	inside, _ := s.src.Bundle()
	return changes, fsroot.Remove(ctx, root, inside)
}

func added(certs []*x509.Certificate) []stores.Change {
	out := make([]stores.Change, len(certs))
	for i, c := range certs {
		out[i] = stores.Change{SHA256: stores.SHA256(c), Action: stores.ActionAdded}
	}
	return out
}

func unchanged(fps []string) []stores.Change {
	out := make([]stores.Change, len(fps))
	for i, fp := range fps {
		out[i] = stores.Change{SHA256: fp, Action: stores.ActionUnchanged}
	}
	return out
}
