//go:build darwin

package firefox

import (
	"context"
	"os"
	"path"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/macos"
)

var macApps = []string{"Firefox.app", "Firefox ESR.app", "Firefox Developer Edition.app", "Firefox Nightly.app"}

// discover returns the distribution/policies.json inside each Firefox app
// bundle in /Applications, in ImportEnterpriseRoots mode over the System
// keychain store.
func discover(ctx context.Context, env stores.Env) ([]stores.Store, error) {
	env = env.Normalize()
	osStore := macos.New(env, macos.ExecRunner{})
	var out []stores.Store
	for _, app := range macApps {
		bundle := path.Join("/Applications", app)
		if _, err := os.Stat(fsroot.Join(env.Root, path.Join(bundle, "Contents", "MacOS"))); err != nil {
			continue
		}
		p := path.Join(bundle, "Contents", "Resources", "distribution", "policies.json")
		out = append(out, New(Config{Path: p, Mode: ModeEnterpriseRoots, OS: osStore,
			SearchDirs: []string{"/Library/Application Support/Mozilla/Certificates"}}, env))
	}
	return out, nil
}
