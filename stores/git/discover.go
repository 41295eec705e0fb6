package git

import (
	"context"
	"path"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/internal/appstore"
	"github.com/anchorwatch/anchorwatch/stores/internal/pembundle"
)

// Store formats.
const (
	FormatConfigured    = "configured-bundle"
	FormatGitForWindows = "git-for-windows-bundle"
)

// systemConfigs are system-level gitconfig files on every platform.
var systemConfigs = []string{"/etc/gitconfig", "/usr/local/etc/gitconfig", "/opt/homebrew/etc/gitconfig", "/ProgramData/Git/config"}

// homeConfigs are a user's gitconfig files, relative to the home.
var homeConfigs = []string{".gitconfig", ".config/git/config"}

// gitForWindows are where Git for Windows installs.
var gitForWindows = []string{"/Program Files/Git", "/Program Files (x86)/Git"}

// gfwBundles are Git for Windows' own bundle, newest layout first.
var gfwBundles = []string{"mingw64/etc/ssl/certs/ca-bundle.crt", "mingw64/ssl/certs/ca-bundle.crt", "mingw32/etc/ssl/certs/ca-bundle.crt"}

// Discover returns the files Git's configuration and GIT_SSL_CAINFO name,
// and Git for Windows' own bundle where Git uses it.
func Discover(ctx context.Context, env stores.Env) ([]stores.Store, error) {
	env = env.Normalize()
	users := appstore.LoadUsers(ctx, env.Root)
	var refs []appstore.Ref
	for _, v := range appstore.SystemEnv(ctx, env) {
		if strings.EqualFold(v.Name, "GIT_SSL_CAINFO") {
			if p, ok := appstore.ConfigPath(v.Value, ""); ok {
				refs = append(refs, appstore.Ref{Path: p, Via: "GIT_SSL_CAINFO in " + v.Source})
			}
		}
	}
	confs := append([]string{}, systemConfigs...)
	for _, g := range gitForWindows {
		confs = append(confs, path.Join(g, "etc/gitconfig"), path.Join(g, "mingw64/etc/gitconfig"))
	}
	for _, c := range confs {
		refs = append(refs, configRefs(ctx, env.Root, c, "").refs...)
	}
	for _, h := range appstore.Homes(ctx, env.Root) {
		for _, c := range homeConfigs {
			refs = append(refs, configRefs(ctx, env.Root, path.Join(h.Path, c), h.Path).refs...)
		}
	}
	cache := pembundle.NewCache()
	var other []appstore.Ref
	inGfW := map[string]string{} // Git for Windows dir -> its configured bundle inside it
	for _, r := range refs {
		if g := gfwDir(r.Path); g != "" && !r.Actor.User() {
			inGfW[g] = r.Path
			continue
		}
		other = append(other, r)
	}
	out := appstore.RefStores(env, users, stores.KindGit, FormatConfigured, other, cache)
	for _, g := range gitForWindows {
		if s := windowsBundle(ctx, env, users, g, inGfW[g], cache); s != nil {
			out = append(out, s)
		}
	}
	return out, nil
}

// gitConfig is what one gitconfig file says about TLS.
type gitConfig struct {
	refs    []appstore.Ref
	backend string // http.sslBackend, lowercased
	caInfo  bool   // http.sslCAInfo set without a URL
}

// configRefs reads one gitconfig: every http[.<url>].sslCAInfo is a
// reference (as its owner for a user's file); "~/" is the home.
func configRefs(ctx context.Context, root, conf, home string) gitConfig {
	var gc gitConfig
	data, actor, err := appstore.ReadConfig(ctx, root, conf)
	if err != nil {
		return gc
	}
	for _, s := range appstore.ParseINI(data) {
		if s.Section != "http" {
			continue
		}
		switch s.Key {
		case "sslcainfo":
			p, ok := appstore.ConfigPath(s.Value, home)
			if !ok {
				continue
			}
			via := "git http.sslCAInfo in " + conf
			if s.Sub != "" {
				via = "git http." + s.Sub + ".sslCAInfo in " + conf
			} else {
				gc.caInfo = true
			}
			gc.refs = append(gc.refs, appstore.Ref{Path: p, Via: via, Actor: actor})
		case "sslbackend":
			if s.Sub == "" {
				gc.backend = strings.ToLower(s.Value)
			}
		}
	}
	return gc
}

// gfwDir returns the Git for Windows directory p lies in, or "".
func gfwDir(p string) string {
	for _, g := range gitForWindows {
		if strings.HasPrefix(strings.ToLower(p), strings.ToLower(g)+"/") {
			return g
		}
	}
	return ""
}

// windowsBundle returns the store of Git for Windows' own bundle when Git
// at dir uses it: the OpenSSL backend (the default), and the bundle its
// system config names inside the install (configured), or else the
// default one. A file outside the install that the config names is a
// configured-bundle store instead.
func windowsBundle(ctx context.Context, env stores.Env, users appstore.Users, dir, configured string, cache *pembundle.Cache) stores.Store {
	if !fsroot.Exists(env.Root, path.Join(dir, "cmd/git.exe")) && !fsroot.Exists(env.Root, path.Join(dir, "bin/git.exe")) {
		return nil
	}
	sys := configRefs(ctx, env.Root, path.Join(dir, "etc/gitconfig"), "")
	if sys.backend == "schannel" {
		env.Log.Debug("git: Git for Windows uses the Windows store (http.sslBackend=schannel)", "dir", dir)
		return nil
	}
	cands := []string{configured}
	if configured == "" {
		if sys.caInfo {
			return nil // the configured file, outside the install, is the store
		}
		cands = nil
		for _, b := range gfwBundles {
			cands = append(cands, path.Join(dir, b))
		}
	}
	for _, p := range cands {
		if fsroot.Exists(env.Root, p) {
			return appstore.NewFile(env, users, appstore.FileConfig{Kind: stores.KindGit, Path: p,
				Format: FormatGitForWindows, App: "Git for Windows (" + dir + ", OpenSSL backend)", Cache: cache})
		}
	}
	return nil
}
