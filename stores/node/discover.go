package node

import (
	"context"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/internal/appstore"
	"github.com/anchorwatch/anchorwatch/stores/internal/pembundle"
)

// Format of an npm cafile store.
const FormatNpmCafile = "configured-bundle"

// systemRuntimes are Node binaries at fixed places.
var systemRuntimes = []string{"/usr/bin/node", "/usr/bin/nodejs", "/usr/local/bin/node", "/opt/homebrew/bin/node",
	"/snap/bin/node", "/Program Files/nodejs/node.exe"}

// runtimeDirs hold one Node install per child: bin/node inside (or
// node.exe for nvm-windows).
var runtimeDirs = []string{"/opt", "/usr/local/lib/nodejs"}

// homeRuntimeDirs, relative to a home, hold one Node install per child.
var homeRuntimeDirs = []string{".nvm/versions/node", ".volta/tools/image/node", ".local/share/fnm/node-versions",
	".asdf/installs/nodejs", "AppData/Roaming/nvm", ".local/share/mise/installs/node"}

// Runtimes returns the Node binaries under root (paths inside it).
func Runtimes(ctx context.Context, root string) []string {
	var out []string
	var seen []os.FileInfo
	add := func(p string) {
		fi, err := os.Stat(hostPath(root, p))
		if err != nil || !fi.Mode().IsRegular() {
			return
		}
		for _, s := range seen {
			if os.SameFile(s, fi) {
				return // /usr/bin/nodejs -> node
			}
		}
		seen = append(seen, fi)
		out = append(out, p)
	}
	for _, p := range systemRuntimes {
		add(p)
	}
	in := func(dir string) {
		for _, c := range children(root, dir) {
			for _, b := range []string{"bin/node", "installation/bin/node", "node.exe"} {
				add(path.Join(dir, c, b))
			}
		}
	}
	for _, d := range runtimeDirs {
		in(d)
	}
	for _, h := range appstore.Homes(ctx, root) {
		for _, d := range homeRuntimeDirs {
			in(path.Join(h.Path, d))
		}
	}
	return out
}

// Discover returns the NODE_EXTRA_CA_CERTS store of each system-wide
// source when Node is installed (or the variable is set already), and the
// files npm's cafile names.
func Discover(ctx context.Context, env stores.Env) ([]stores.Store, error) {
	env = env.Normalize()
	users := appstore.LoadUsers(ctx, env.Root)
	rts := Runtimes(ctx, env.Root)
	var out []stores.Store
	for _, src := range sources(env) {
		_, set, _ := src.Get(ctx)
		if len(rts) == 0 && !set {
			continue
		}
		out = append(out, NewEnvStore(env, users, src, appList(rts)))
	}
	refs, inline := npmRefs(ctx, env, rts)
	out = append(out, appstore.RefStores(env, users, stores.KindNode, FormatNpmCafile, refs, pembundle.NewCache())...)
	out = append(out, inline...)
	return out, nil
}

func appList(rts []string) string {
	if len(rts) == 0 {
		return "node"
	}
	const max = 8
	s := rts
	if len(s) > max {
		s = s[:max]
	}
	out := "node: " + strings.Join(s, ", ")
	if len(rts) > max {
		out += ", …"
	}
	return out
}

// children lists the child directories of dir (not links), sorted.
func children(root, dir string) []string {
	ents, err := os.ReadDir(hostPath(root, dir))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}
