//go:build linux

package firefox

import (
	"context"
	"os"
	"path"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// installDirs are where distributions and Mozilla's tarball put Firefox.
var installDirs = []string{
	"/usr/lib/firefox", "/usr/lib/firefox-esr", "/usr/lib64/firefox", "/usr/lib64/firefox-esr",
	"/opt/firefox", "/opt/firefox-esr", "/usr/local/lib/firefox",
}

// linuxSearchDirs are where Firefox looks up a bare Install file name.
var linuxSearchDirs = []string{"/usr/lib/mozilla/certificates", "/usr/lib64/mozilla/certificates"}

// discover returns /etc/firefox/policies/policies.json when a Firefox is
// installed or /etc/firefox exists, and the distribution/policies.json of
// each installed Firefox (by its application.ini), ids by resolved path.
func discover(ctx context.Context, env stores.Env) ([]stores.Store, error) {
	env = env.Normalize()
	var out []stores.Store
	seen := map[string]bool{}
	add := func(p string) {
		if rp, err := fsroot.Resolve(env.Root, path.Dir(p)); err == nil {
			p = path.Join(rp, path.Base(p))
		}
		if seen[p] {
			return
		}
		seen[p] = true
		out = append(out, New(Config{Path: p, Mode: ModeInstall, SearchDirs: linuxSearchDirs}, env))
	}
	var installs []string
	for _, d := range installDirs {
		if _, err := os.Stat(fsroot.Join(env.Root, path.Join(d, "application.ini"))); err == nil {
			installs = append(installs, d)
		}
	}
	_, etcErr := os.Stat(fsroot.Join(env.Root, "/etc/firefox"))
	if len(installs) > 0 || etcErr == nil {
		add(SystemPolicyPath)
	}
	for _, d := range installs {
		add(path.Join(d, "distribution", "policies.json"))
	}
	return out, nil
}
