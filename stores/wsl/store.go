package wsl

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/internal/appstore"
	"github.com/anchorwatch/anchorwatch/stores/system"
)

// Distro is one registered WSL distribution.
type Distro struct {
	Name    string
	Version int    // 1 or 2
	RootFS  string // host path of its root file system; "" when unreachable
	Owner   string // the Windows user it is registered for
	Note    string // why it cannot be read
}

// Store is the system store of one distribution, read through its root
// file system.
type Store struct {
	d    Distro
	info stores.Info
}

// NewStore returns the store of d.
func NewStore(d Distro) *Store {
	s := &Store{d: d, info: stores.Info{
		ID: string(stores.KindWSL) + ":" + d.Name, Kind: stores.KindWSL, Path: d.RootFS,
		Format: fmt.Sprintf("wsl%d", d.Version), Owner: d.Owner, App: "WSL distribution " + d.Name, Note: d.Note,
	}}
	if s.info.Path == "" {
		s.info.Path = `\\wsl.localhost\` + d.Name
	}
	return s
}

// Info describes the store.
func (s *Store) Info() stores.Info { return s.info }

// Watch names the distribution's bundle.
func (s *Store) Watch() stores.WatchSpec {
	if s.d.RootFS == "" {
		return stores.WatchSpec{}
	}
	f, err := s.bundle(context.Background())
	if err != nil {
		return stores.WatchSpec{}
	}
	return f.Watch()
}

// bundle returns the extracted bundle of the distribution's family.
func (s *Store) bundle(ctx context.Context) (*appstore.File, error) {
	if s.d.Note != "" {
		return nil, errors.New(s.d.Note)
	}
	data, _, err := fsroot.ReadBeneath(ctx, s.d.RootFS, "/etc/os-release", 64<<10)
	if err != nil {
		data, _, err = fsroot.ReadBeneath(ctx, s.d.RootFS, "/usr/lib/os-release", 64<<10)
	}
	if err != nil {
		return nil, fmt.Errorf("distribution %s: no os-release: %w", s.d.Name, err)
	}
	fam, err := system.DetectFamily(system.ParseOSRelease(data))
	if err != nil {
		return nil, fmt.Errorf("distribution %s: %w", s.d.Name, err)
	}
	env := stores.Env{Root: s.d.RootFS}
	return appstore.NewFile(env, nil, appstore.FileConfig{Kind: stores.KindWSL, Path: fam.Bundle, Format: fam.Name}), nil
}

// List returns the certificates of the distribution's extracted bundle.
func (s *Store) List(ctx context.Context) ([]stores.Anchor, error) {
	f, err := s.bundle(ctx)
	if err != nil {
		return nil, err
	}
	return f.List(ctx)
}

// Install cannot be done from Windows; the error says what to run.
func (s *Store) Install(context.Context, []*x509.Certificate, stores.Options) ([]stores.Change, error) {
	return nil, s.inside("install --ca <CA file>")
}

// Remove cannot be done from Windows; the error says what to run.
func (s *Store) Remove(context.Context, []string, stores.Options) ([]stores.Change, error) {
	return nil, s.inside("remove --sha256 <fingerprint>")
}

func (s *Store) inside(cmd string) error {
	return fmt.Errorf("%w: the system store of WSL distribution %s is changed from inside it: wsl -d %s -u root -- anchorwatch %s (or install the Anchorwatch agent in the distribution)",
		stores.ErrNotSupported, s.d.Name, s.d.Name, cmd)
}
