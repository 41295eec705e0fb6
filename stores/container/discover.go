package container

import (
	"context"
	"os"
	"path"
	"sort"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/internal/appstore"
	"github.com/anchorwatch/anchorwatch/stores/internal/pembundle"
)

// trees are the certs.d directories: inside the root, and relative to
// each home (rootless engines, Docker Desktop).
var (
	trees = []struct{ dir, format, app string }{
		{"/etc/docker/certs.d", "docker-certs.d", "dockerd"},
		{"/ProgramData/docker/certs.d", "docker-certs.d", "dockerd (Windows)"},
		{"/etc/containers/certs.d", "containers-certs.d", "podman, buildah, skopeo, CRI-O"},
		{"/etc/containerd/certs.d", "containerd-certs.d", "containerd"},
	}
	homeTrees = []struct{ dir, format, app string }{
		{".docker/certs.d", "docker-certs.d", "Docker Desktop"},
		{".config/docker/certs.d", "docker-certs.d", "rootless dockerd"},
		{".config/containers/certs.d", "containers-certs.d", "rootless podman"},
	}
)

// Discover returns one store per registry directory of every certs.d.
func Discover(ctx context.Context, env stores.Env) ([]stores.Store, error) {
	env = env.Normalize()
	users := appstore.LoadUsers(ctx, env.Root)
	cache := pembundle.NewCache()
	var out []stores.Store
	add := func(tree, format, app string) {
		for _, reg := range registries(env.Root, tree) {
			out = append(out, NewStore(env, users, path.Join(tree, reg), format, app, cache))
		}
	}
	for _, t := range trees {
		add(t.dir, t.format, t.app)
	}
	for _, h := range appstore.Homes(ctx, env.Root) {
		for _, t := range homeTrees {
			add(path.Join(h.Path, t.dir), t.format, t.app)
		}
	}
	return out, ctx.Err()
}

// registries lists the registry directories of a certs.d tree (not
// links: a registry directory a user links elsewhere is not followed).
func registries(root, tree string) []string {
	ents, err := os.ReadDir(hostPath(root, tree))
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
