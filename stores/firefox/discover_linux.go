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

// snapFirefox is where the Firefox snap lives; it reads only
// /etc/firefox/policies/policies.json (its distribution folder is in the
// read-only snap).
const snapFirefox = "/snap/firefox"

// discover returns the policies.json files Firefox actually reads. Linux
// Firefox reads /etc/firefox/policies/policies.json when it exists and
// then ignores <install>/distribution/policies.json altogether; only
// when it is absent does each installation read its own distribution
// file. So:
//
//   - /etc/firefox/policies/policies.json exists: it is the one store (the
//     distribution files are shadowed, and writing them would change
//     nothing Firefox reads);
//   - it does not, and Firefox installations are found (by their
//     application.ini): the distribution/policies.json of each, never
//     the /etc file, whose creation would silently switch off every
//     policy an administrator set in a distribution file;
//   - neither, but /etc/firefox or the Firefox snap exists: the /etc file.
//
// Ids are by resolved path.
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
	exists := func(p string) bool {
		_, err := os.Lstat(fsroot.Join(env.Root, p))
		return err == nil
	}
	switch {
	case exists(SystemPolicyPath):
		add(SystemPolicyPath)
		if len(installs) > 0 {
			env.Log.Debug("firefox: /etc/firefox/policies/policies.json exists; distribution/policies.json files are not read by Firefox", "installs", installs)
		}
	case len(installs) > 0:
		for _, d := range installs {
			add(path.Join(d, "distribution", "policies.json"))
		}
	case exists("/etc/firefox") || exists(snapFirefox):
		add(SystemPolicyPath)
	}
	return out, nil
}
