package container

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/internal/appstore"
	"github.com/anchorwatch/anchorwatch/stores/internal/pembundle"
)

// Store is one registry directory of a certs.d tree.
type Store struct {
	info  stores.Info
	env   stores.Env
	dir   string // inside the root
	users appstore.Users
	cache *pembundle.Cache
}

// hostsToml is containerd's per-registry configuration.
const hostsToml = "hosts.toml"

// NewStore returns the store of the registry directory dir (inside root).
func NewStore(env stores.Env, users appstore.Users, dir, format, app string, cache *pembundle.Cache) *Store {
	env = env.Normalize()
	s := &Store{env: env, dir: dir, users: users, cache: cache, info: stores.Info{
		ID: string(stores.KindContainer) + ":" + dir, Kind: stores.KindContainer, Path: dir, Format: format,
		App: app + " (registry " + path.Base(dir) + ")",
	}}
	sc, err := fsroot.DirScope(env.Root, dir)
	if sc.User() {
		s.info.Owner = users.Name(sc.UID)
	}
	s.info.Writable = err == nil && fsroot.Writable(sc) && !fsroot.Exists(env.Root, path.Join(dir, hostsToml))
	return s
}

// Info describes the store.
func (s *Store) Info() stores.Info { return s.info }

// Watch names the directory (files come and go in it).
func (s *Store) Watch() stores.WatchSpec {
	hp := hostPath(s.env.Root, s.dir)
	return stores.WatchSpec{Paths: []string{hp, path.Dir(hp)}}
}

// file is the store of one certificate file of the directory.
func (s *Store) file(name string, create bool) *appstore.File {
	p := path.Join(s.dir, name)
	cfg := appstore.FileConfig{Kind: stores.KindContainer, Path: p, Create: create, Cache: s.cache}
	if r, err := appstore.Resolve(s.env.Root, p); err == nil {
		cfg.Path = r // a link root made (ca.crt -> /etc/ssl/certs/corp.pem) is read where it points
	}
	return appstore.NewFile(s.env, s.users, cfg)
}

// layout reads the directory: the CA files the daemon reads, the ones it
// ignores, and an error when the daemon rejects the directory.
func (s *Store) layout(ctx context.Context) (Layout, bool, error) {
	if data, _, err := fsroot.ReadBeneath(ctx, s.env.Root, path.Join(s.dir, hostsToml), 1<<20); err == nil {
		return Layout{CAFiles: HostsCAs(data)}, true, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Layout{}, false, err
	}
	ents, err := os.ReadDir(hostPath(s.env.Root, s.dir))
	if err != nil {
		return Layout{}, false, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0 {
			names = append(names, e.Name())
		}
	}
	return Rules(names), false, nil
}

// List returns the certificates of the CA files (trusted) and of files
// the daemon ignores (untrusted, labelled why).
func (s *Store) List(ctx context.Context) ([]stores.Anchor, error) {
	l, _, err := s.layout(ctx)
	if err != nil {
		return nil, err
	}
	if l.Err != nil {
		return nil, l.Err
	}
	var out []stores.Anchor
	for _, n := range l.CAFiles {
		as, err := s.file(n, false).List(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, as...)
	}
	for _, n := range l.Ignored {
		as, err := s.file(n, false).List(ctx)
		if err != nil {
			continue
		}
		for _, a := range as {
			a.TrustedServerAuth = false
			a.Label = n + " (ignored: the daemon reads only *.crt)"
			out = append(out, a)
		}
	}
	return out, nil
}

// Install writes each missing certificate to anchorwatch-<prefix>.crt.
func (s *Store) Install(ctx context.Context, certs []*x509.Certificate, opt stores.Options) ([]stores.Change, error) {
	l, toml, err := s.layout(ctx)
	if err != nil {
		return nil, err
	}
	if toml {
		return nil, fmt.Errorf("%w: %s has a hosts.toml, and containerd reads only the ca files it names: add ca = [\"%s.crt\"] to its [host] entries (Anchorwatch does not edit hosts.toml)",
			stores.ErrNotSupported, s.dir, path.Join(s.dir, stores.LabelPrefix+"…"))
	}
	if l.Err != nil {
		return nil, l.Err
	}
	have := map[string]bool{}
	for _, n := range l.CAFiles {
		as, err := s.file(n, false).List(ctx)
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			have[a.SHA256] = true
		}
	}
	var changes []stores.Change
	for _, c := range certs {
		fp := stores.SHA256(c)
		if have[fp] {
			changes = append(changes, stores.Change{SHA256: fp, Action: stores.ActionUnchanged})
			continue
		}
		ch, err := s.file(stores.Label(c)+".crt", true).Install(ctx, []*x509.Certificate{c}, opt)
		if err != nil {
			return changes, err
		}
		changes = append(changes, ch...)
	}
	return changes, nil
}

// ours matches the files Install writes.
var ours = regexp.MustCompile(`^` + stores.LabelPrefix + `[0-9a-f]{16}\.crt$`)

// Remove takes the certificates out of every certificate file of the
// directory; a file of ours left without a certificate is deleted.
func (s *Store) Remove(ctx context.Context, sha256s []string, opt stores.Options) ([]stores.Change, error) {
	l, _, err := s.layout(ctx)
	if err != nil {
		return nil, err
	}
	removed := map[string]bool{}
	for _, n := range append(append([]string{}, l.CAFiles...), l.Ignored...) {
		f := s.file(n, false)
		ch, err := f.Remove(ctx, sha256s, opt)
		if err != nil {
			return nil, err
		}
		for _, c := range ch {
			if c.Action == stores.ActionRemoved {
				removed[c.SHA256] = true
			}
		}
		if stores.Changed(ch) && ours.MatchString(n) && !opt.DryRun {
			if left, err := f.List(ctx); err == nil && len(left) == 0 {
				if err := fsroot.Remove(ctx, s.env.Root, path.Join(s.dir, n)); err != nil {
					return nil, err
				}
			}
		}
	}
	var out []stores.Change
	for _, fp := range sha256s {
		a := stores.ActionUnchanged
		if removed[fp] {
			a = stores.ActionRemoved
		}
		out = append(out, stores.Change{SHA256: fp, Action: a})
	}
	return out, nil
}

var quoted = regexp.MustCompile(`"([^"]*)"|'([^']*)'`)

// HostsCAs returns the ca files a containerd hosts.toml names (top level
// and in [host."…"] tables): ca = "file" or ca = ["a", "b"]. Relative
// names are relative to the registry directory; only plain names inside
// it are returned (an absolute or climbing path is not read here).
func HostsCAs(data []byte) []string {
	if len(data) > 1<<20 {
		data = data[:1<<20]
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.TrimSpace(k) != "ca" {
			continue
		}
		for _, q := range quoted.FindAllStringSubmatch(v, -1) {
			name := q[1] + q[2]
			if name != "" && !strings.Contains(name, "/") && !strings.Contains(name, `\`) && name != ".." {
				out = append(out, name)
			}
		}
	}
	return out
}

func hostPath(root, p string) string { return fsroot.HostPath(root, p) }
