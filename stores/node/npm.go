package node

import (
	"context"
	"path"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/internal/appstore"
)

// npm's configuration files: global ones at fixed places and in each Node
// install's prefix (etc/npmrc), the builtin one, each home's .npmrc.
var npmSystemConfigs = []string{"/etc/npmrc", "/usr/etc/npmrc", "/usr/local/etc/npmrc", "/opt/homebrew/etc/npmrc",
	"/usr/share/nodejs/npm/npmrc", "/usr/lib/node_modules/npm/npmrc"}

// npmRefs returns the files npm's cafile names, and a store with a Note
// for each npmrc holding an inline ca= (npm then trusts only those).
func npmRefs(ctx context.Context, env stores.Env, runtimes []string) ([]appstore.Ref, []stores.Store) {
	var (
		refs   []appstore.Ref
		inline []stores.Store
	)
	read := func(conf, home string) {
		data, actor, err := appstore.ReadConfig(ctx, env.Root, conf)
		if err != nil {
			return
		}
		ss := appstore.ParseINI(data)
		if s, ok := appstore.Lookup(ss, "", "", "cafile"); ok {
			if p, ok := appstore.ConfigPath(s.Value, home); ok {
				refs = append(refs, appstore.Ref{Path: p, Via: "npm cafile in " + conf, Actor: actor})
			}
		}
		for _, s := range ss {
			if s.Section == "" && (s.Key == "ca" || s.Key == "ca[]") && s.Value != "" && s.Value != "null" {
				inline = append(inline, appstore.NewFile(env, nil, appstore.FileConfig{Kind: stores.KindNode, Path: conf,
					Format: "npm-inline-ca", App: "npm",
					Note: "npm ca= is set inline in " + conf + ": npm then trusts only those certificates; move them to a file and name it with cafile="}))
				break
			}
		}
	}
	seen := map[string]bool{}
	confs := append([]string{}, npmSystemConfigs...)
	for _, rt := range runtimes {
		if strings.HasSuffix(rt, "/bin/node") {
			confs = append(confs, path.Join(path.Dir(path.Dir(rt)), "etc", "npmrc"))
		}
	}
	for _, c := range confs {
		if !seen[c] {
			seen[c] = true
			read(c, "")
		}
	}
	for _, h := range appstore.Homes(ctx, env.Root) {
		read(path.Join(h.Path, ".npmrc"), h.Path)
	}
	return refs, inline
}
