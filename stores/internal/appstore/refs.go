package appstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/internal/pembundle"
	"github.com/anchorwatch/anchorwatch/stores/system"
)

// Ref is a configuration naming a bundle file a program reads.
type Ref struct {
	Path string // as configured, converted to a path inside the root
	Via  string // what names it, e.g. "pip cert in /etc/pip.conf"
	// Actor is the owner of the configuration (zero for root): a file a
	// user's configuration names is read and written as that user only.
	Actor fsroot.Scope
}

// ReadConfig reads a configuration file (no link followed, bounded) and
// says whose it is: a file a user owns, or that sits in a user's
// directory, is that user's, and what it names is handled as that user.
func ReadConfig(ctx context.Context, root, p string) ([]byte, fsroot.Scope, error) {
	if !fsroot.Exists(root, p) {
		return nil, fsroot.Scope{}, fs.ErrNotExist // most homes have none: one lstat
	}
	data, info, err := fsroot.ReadBeneath(ctx, root, p, maxConfig)
	if err != nil {
		return nil, fsroot.Scope{}, err
	}
	if info.UID > 0 {
		return data, fsroot.Scope{UID: info.UID, GID: info.GID}, nil
	}
	if sc, err := fsroot.DirScope(root, path.Dir(p)); err == nil && sc.User() {
		return data, sc, nil
	}
	return data, fsroot.Scope{}, nil
}

// ConfigPath converts a configured path to a path inside the root: an
// absolute POSIX path stays, a Windows drive path (C:\x or C:/x) loses its
// drive, "~/" is the given home. Anything else (relative, empty, a URL,
// a NUL byte) is not a path we act on.
func ConfigPath(v, home string) (string, bool) {
	v = strings.TrimSpace(v)
	switch {
	case v == "" || strings.ContainsRune(v, 0) || strings.Contains(v, "://"):
		return "", false
	case strings.HasPrefix(v, "~/") && home != "":
		return path.Clean(path.Join(home, v[2:])), true
	case len(v) >= 3 && v[1] == ':' && (v[2] == '\\' || v[2] == '/') && isLetter(v[0]):
		return path.Clean("/" + strings.ReplaceAll(v[3:], `\`, "/")), true
	case strings.HasPrefix(v, "/"):
		return path.Clean(v), true
	}
	return "", false
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// SystemBundles are the extracted bundles of the Linux system store (and
// the links distributions keep to them): stores/system owns these, so a
// reference to one is covered by the system store, never written here.
func SystemBundles() map[string]bool {
	m := map[string]bool{
		"/etc/ssl/cert.pem":                                true,
		"/etc/pki/tls/cert.pem":                            true,
		"/etc/pki/tls/certs/ca-bundle.crt":                 true,
		"/etc/ssl/certs/ca-bundle.crt":                     true,
		"/etc/ssl/ca-bundle.pem":                           true,
		"/usr/lib/ssl/cert.pem":                            true,
		"/etc/ca-certificates/extracted/tls-ca-bundle.pem": true,
	}
	for _, f := range system.Families() {
		m[f.Bundle] = true
	}
	return m
}

// IsSystemBundle reports whether p (resolved, inside root) is one of
// SystemBundles or inside a directory the system store's tool writes.
func IsSystemBundle(sys map[string]bool, p string) bool {
	return sys[p] || strings.HasPrefix(p, "/etc/ssl/certs/") || strings.HasPrefix(p, "/etc/pki/ca-trust/extracted/")
}

// RefStores turns references into one store per file (references that
// resolve to the same file are one store whose App names them all). A
// reference to the system store's bundle is skipped (stores/system covers
// it); one through a link a user could have planted, or to a missing
// file, is a store with a Note, so the report says why that program is
// not covered.
func RefStores(env stores.Env, users Users, kind stores.Kind, format string, refs []Ref, cache *pembundle.Cache) []stores.Store {
	sys := SystemBundles()
	type group struct {
		via   []string
		note  string
		actor fsroot.Scope
	}
	groups := map[string]*group{}
	var order []string
	for _, r := range refs {
		p, note := r.Path, ""
		resolved, err := Resolve(env.Root, r.Path)
		switch {
		case err == nil:
			p = resolved
		case errors.Is(err, ErrUntrustedLink):
			p, note = resolved, fmt.Sprintf("%s is a symbolic link a user could have planted: not followed (make %s a regular file)", resolved, r.Path)
		case errors.Is(err, fs.ErrNotExist):
			note = fmt.Sprintf("%s does not exist, yet %s names it", r.Path, r.Via)
		default:
			note = err.Error()
		}
		if IsSystemBundle(sys, p) {
			env.Log.Debug("app store: reference to the system bundle, covered by the system store", "path", p, "via", r.Via)
			continue
		}
		g := groups[p]
		if g == nil {
			g = &group{note: note, actor: r.Actor}
			groups[p] = g
			order = append(order, p)
		}
		if !r.Actor.User() {
			g.actor = r.Actor // root's own configuration names it too
		}
		g.via = append(g.via, r.Via)
	}
	sort.Strings(order)
	var out []stores.Store
	for _, p := range order {
		g := groups[p]
		out = append(out, NewFile(env, users, FileConfig{Kind: kind, Path: p, Format: format,
			App: strings.Join(uniq(g.via), "; "), Note: g.note, Actor: g.actor, Cache: cache}))
	}
	return out
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
