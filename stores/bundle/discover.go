package bundle

import (
	"context"
	"path"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/internal/appstore"
	"github.com/anchorwatch/anchorwatch/stores/internal/pembundle"
)

// Store formats.
const (
	FormatCopied     = "copied-bundle"
	FormatConfigured = "configured-bundle"
)

// claimedVars are system-wide variables whose files other kinds list.
var claimedVars = []string{"REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "PIP_CERT", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO", "AWS_CA_BUNDLE"}

// claimedConfigs are system-wide settings (file, section, key) whose files
// other kinds list: pip's cert, Git's sslCAInfo, npm's cafile.
var claimedConfigs = []struct{ file, section, key string }{
	{"/etc/pip.conf", "global", "cert"}, {"/etc/xdg/pip/pip.conf", "global", "cert"},
	{"/etc/gitconfig", "http", "sslcainfo"}, {"/usr/local/etc/gitconfig", "http", "sslcainfo"},
	{"/etc/npmrc", "", "cafile"}, {"/usr/etc/npmrc", "", "cafile"}, {"/usr/local/etc/npmrc", "", "cafile"},
}

// Discover returns the bundles found by content and the files curl's and
// wget's configuration name.
func Discover(ctx context.Context, env stores.Env) ([]stores.Store, error) {
	env = env.Normalize()
	users := appstore.LoadUsers(ctx, env.Root)
	cache := pembundle.NewCache()
	refs := configRefs(ctx, env)
	skip := claimed(ctx, env)
	for _, r := range refs {
		skip[r.Path] = true
	}
	sys := appstore.SystemBundles()
	var out []stores.Store
	for _, p := range scan(ctx, env.Root) {
		if skip[p] || appstore.IsSystemBundle(sys, p) {
			continue
		}
		out = append(out, appstore.NewFile(env, users, appstore.FileConfig{Kind: stores.KindBundle, Path: p,
			Format: FormatCopied, App: appOf(p), VendorHeaders: true, Cache: cache}))
	}
	out = append(out, appstore.RefStores(env, users, stores.KindBundle, FormatConfigured, refs, cache)...)
	return out, ctx.Err()
}

// appOf names the program a copied bundle belongs to: the first directory
// under the tree it was found in.
func appOf(p string) string {
	for _, top := range scanRoots {
		if rest, ok := strings.CutPrefix(p, top+"/"); ok {
			name, _, _ := strings.Cut(rest, "/")
			return name + " (" + top + ")"
		}
	}
	return path.Dir(p)
}

// configRefs returns CURL_CA_BUNDLE set system-wide, wget's
// ca_certificate in /etc/wgetrc and ~/.wgetrc, curl's cacert in ~/.curlrc.
func configRefs(ctx context.Context, env stores.Env) []appstore.Ref {
	var refs []appstore.Ref
	for _, v := range appstore.SystemEnv(ctx, env) {
		if strings.EqualFold(v.Name, "CURL_CA_BUNDLE") {
			if p, ok := appstore.ConfigPath(v.Value, ""); ok {
				refs = append(refs, appstore.Ref{Path: p, Via: "CURL_CA_BUNDLE in " + v.Source})
			}
		}
	}
	rc := func(conf, home, key, prog string) {
		data, actor, err := appstore.ReadConfig(ctx, env.Root, conf)
		if err != nil {
			return
		}
		if v, ok := RCValue(data, key); ok {
			if p, ok := appstore.ConfigPath(v, home); ok {
				refs = append(refs, appstore.Ref{Path: p, Via: prog + " in " + conf, Actor: actor})
			}
		}
	}
	rc("/etc/wgetrc", "", "ca_certificate", "wget ca_certificate")
	for _, h := range appstore.Homes(ctx, env.Root) {
		rc(path.Join(h.Path, ".wgetrc"), h.Path, "ca_certificate", "wget ca_certificate")
		rc(path.Join(h.Path, ".curlrc"), h.Path, "cacert", "curl cacert")
	}
	return refs
}

// RCValue returns the last value of key in a curlrc or wgetrc: lines
// "key = value", "key value" or "--key value" (curl), '#' comments,
// double-quoted values unquoted.
func RCValue(data []byte, key string) (string, bool) {
	if len(data) > 1<<20 {
		data = data[:1<<20]
	}
	val, found := "", false
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimPrefix(line, "--")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			k, v, ok = strings.Cut(line, " ")
		}
		if !ok {
			k, v, ok = strings.Cut(line, ":")
		}
		if !ok || !strings.EqualFold(strings.TrimSpace(k), key) {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		val, found = v, true
	}
	return val, found && val != ""
}

// claimed returns the files that system-wide configuration of another
// kind names, resolved: those stores are listed under their own kind.
func claimed(ctx context.Context, env stores.Env) map[string]bool {
	out := map[string]bool{}
	add := func(v string) {
		if p, ok := appstore.ConfigPath(v, ""); ok {
			out[p] = true
			if r, err := appstore.Resolve(env.Root, p); err == nil {
				out[r] = true
			}
		}
	}
	for _, v := range appstore.SystemEnv(ctx, env) {
		for _, name := range claimedVars {
			if strings.EqualFold(v.Name, name) {
				add(v.Value)
			}
		}
	}
	for _, c := range claimedConfigs {
		if data, _, err := appstore.ReadConfig(ctx, env.Root, c.file); err == nil {
			for _, s := range appstore.ParseINI(data) {
				if s.Section == c.section && s.Key == c.key {
					add(s.Value)
				}
			}
		}
	}
	return out
}
