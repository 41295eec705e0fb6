package java

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

func init() {
	stores.Register(stores.Adapter{Kind: stores.KindJava, Discover: Discover})
}

// runtimeParents are directories (inside the root) whose children are Java
// runtimes, on every platform: a root may be a mounted image of another OS.
var runtimeParents = []string{
	"/usr/lib/jvm",
	"/usr/java",
	"/usr/local/java",
	"/opt",
	"/Library/Java/JavaVirtualMachines",
	"/System/Library/Java/JavaVirtualMachines",
	"/Program Files/Java",
	"/Program Files/Eclipse Adoptium",
	"/Program Files/Microsoft",
	"/Program Files/Amazon Corretto",
	"/Program Files/Zulu",
	"/Program Files (x86)/Java",
}

// cacertsInRuntime are the places of cacerts inside one runtime: JDK 9+,
// JDK 8 (and JREs), and the same under a macOS bundle's Contents/Home.
var cacertsInRuntime = []string{
	"lib/security/cacerts",
	"jre/lib/security/cacerts",
	"Contents/Home/lib/security/cacerts",
	"Contents/Home/jre/lib/security/cacerts",
}

// distributionStores are cacerts files kept by the OS rather than a JDK.
var distributionStores = map[string]string{
	"/etc/ssl/certs/java/cacerts":              "ca-certificates-java",
	"/etc/pki/ca-trust/extracted/java/cacerts": "ca-certificates",
	"/etc/pki/java/cacerts":                    "ca-certificates",
}

// candidate is one path to a cacerts and the runtime it belongs to.
type candidate struct {
	path    string // inside root
	runtime string // e.g. "java-17-openjdk-amd64"; empty for a distribution store
	system  string // owner name of a distribution store
}

// Discover finds every Java keystore under env.Root. Paths that resolve to
// the same file are one store; its Info.App lists the runtimes using it.
func Discover(ctx context.Context, env stores.Env) ([]stores.Store, error) {
	env = env.Normalize()
	cands := candidates(env.Root)
	type group struct {
		resolved string
		paths    []string
		runtimes []string
		system   string
		dangling bool
	}
	groups := map[string]*group{}
	var order []string
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		resolved, err := fsroot.Resolve(env.Root, c.path)
		dangling := false
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				env.Log.Warn("java keystore: cannot resolve", "path", c.path, "err", err)
			}
			fi, lerr := os.Lstat(fsroot.Join(env.Root, c.path))
			if lerr != nil || fi.Mode()&fs.ModeSymlink == 0 {
				continue // simply absent
			}
			resolved, dangling = c.path, true
		}
		if why := adopted(env.Root, c.path, resolved); why != "" {
			env.Log.Warn("java keystore: skip a keystore a user's runtime links to but the user does not own", "path", c.path, "resolved", resolved, "why", why)
			continue
		}
		g := groups[resolved]
		if g == nil {
			g = &group{resolved: resolved, dangling: dangling}
			groups[resolved] = g
			order = append(order, resolved)
		}
		if c.path != resolved {
			g.paths = append(g.paths, c.path)
		}
		if c.runtime != "" {
			g.runtimes = append(g.runtimes, c.runtime)
		}
		if c.system != "" && g.system == "" {
			g.system = c.system
		}
	}
	var out []stores.Store
	for _, r := range order {
		g := groups[r]
		var s *Store
		if g.dangling {
			target, _ := os.Readlink(fsroot.Join(env.Root, r))
			s = &Store{root: env.Root, host: fsroot.Join(env.Root, r), paths: []string{r}, info: stores.Info{
				ID: string(stores.KindJava) + ":" + r, Kind: stores.KindJava, Path: r, Format: FormatUnknown,
				Note: "dangling symlink to " + target + ": this runtime has no trust store (on Debian install ca-certificates-java)",
			}}
		} else {
			s = newStore(env, r)
			s.paths = append(s.paths, g.paths...)
		}
		sort.Strings(g.runtimes)
		s.info.App = strings.Join(uniq(g.runtimes), ",")
		if s.info.App == "" {
			s.info.App = g.system
		}
		out = append(out, s)
	}
	return out, nil
}

// adopted says why the keystore at p, which resolves to resolved (both
// inside root), must not be taken as a store ("" when it may): a runtime
// in a directory a user controls (a JDK they unpacked under /opt) may
// link its cacerts only to a file that user owns in a directory they
// control. Otherwise a user could point their cacerts at any root-owned
// keystore and have root rewrite it.
func adopted(root, p, resolved string) string {
	if p == resolved {
		return ""
	}
	dir, err := fsroot.Resolve(root, path.Dir(p))
	if err != nil {
		return ""
	}
	from, err := fsroot.Controller(fsroot.Join(root, dir))
	if err != nil {
		return err.Error()
	}
	if from.UID == 0 {
		return "" // only root controls the link: it is the administrator's (Debian's own links)
	}
	to, err := fsroot.Controller(fsroot.Join(root, path.Dir(resolved)))
	if err != nil {
		return err.Error()
	}
	owner, _ := fsroot.Owner(fsroot.Join(root, resolved))
	if to.UID != from.UID || owner != from.UID {
		return fmt.Sprintf("the link is uid %d's, the keystore is owned by uid %d in a directory uid %d controls", from.UID, owner, to.UID)
	}
	return ""
}

// candidates lists the cacerts paths that exist (possibly as dangling
// symlinks) under root. Reading directories instead of globbing keeps root
// free of glob metacharacter trouble and costs a few syscalls.
func candidates(root string) []candidate {
	var out []candidate
	add := func(rt string) {
		name := path.Base(rt)
		if r, err := fsroot.Resolve(root, rt); err == nil {
			name = path.Base(r) // java-1.17.0-openjdk-amd64 -> java-17-openjdk-amd64
		}
		for _, rel := range cacertsInRuntime {
			p := path.Join(rt, rel)
			if _, err := os.Lstat(fsroot.Join(root, p)); err == nil {
				out = append(out, candidate{path: p, runtime: name})
			}
		}
	}
	for _, parent := range runtimeParents {
		for _, child := range subdirs(root, parent) {
			rt := path.Join(parent, child)
			add(rt)
			if parent == "/opt" {
				// one level of vendor directories: /opt/java/openjdk
				for _, grand := range subdirs(root, rt) {
					add(path.Join(rt, grand))
				}
			}
		}
	}
	var dist []string
	for p := range distributionStores {
		dist = append(dist, p)
	}
	sort.Strings(dist)
	for _, p := range dist {
		if _, err := os.Lstat(fsroot.Join(root, p)); err == nil {
			out = append(out, candidate{path: p, system: distributionStores[p]})
		}
	}
	return out
}

// subdirs lists the directories (or symlinks to directories) in dir.
func subdirs(root, dir string) []string {
	ents, err := os.ReadDir(fsroot.Join(root, dir))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			// e.g. /usr/lib/jvm/default-java -> java-17-openjdk-amd64:
			// followed, and deduplicated by the resolved path later
			r, err := fsroot.Resolve(root, path.Join(dir, e.Name()))
			if err != nil {
				continue
			}
			if fi, err := os.Stat(fsroot.Join(root, r)); err == nil && fi.IsDir() {
				out = append(out, e.Name())
			}
		}
	}
	return out
}

func uniq(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
