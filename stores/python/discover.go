package python

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/internal/appstore"
	"github.com/anchorwatch/anchorwatch/stores/internal/pembundle"
)

// Store formats: the mechanism each store uses.
const (
	FormatCertifi    = "certifi"           // a certifi package's cacert.pem; replaced by upgrades, healed by the agent
	FormatVendored   = "pip-vendored"      // pip's own copy of certifi; replaced with pip
	FormatConfigured = "configured-bundle" // a file a configuration names; survives upgrades
)

// Discover returns the certifi bundles of every environment, pip's
// vendored bundle where pip uses it, and the files pip, conda and the
// system-wide environment point Python programs at.
func Discover(ctx context.Context, env stores.Env) ([]stores.Store, error) {
	env = env.Normalize()
	users := appstore.LoadUsers(ctx, env.Root)
	cache := pembundle.NewCache()
	taken := map[string]bool{}
	sys := appstore.SystemBundles()
	homes := appstore.Homes(ctx, env.Root)
	envs, tops := environments(ctx, env.Root, homes)
	found := make([][]bundle, len(envs))
	appstore.Parallel(ctx, len(envs), func(i int) { found[i] = bundles(env.Root, envs[i]) })
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var cfgs []appstore.FileConfig
	for i, e := range envs {
		for _, b := range found[i] {
			cfg := bundleConfig(env.Root, e, b, cache)
			if taken[cfg.Path] || appstore.IsSystemBundle(sys, cfg.Path) {
				continue // Debian-style certifi linked to the system bundle
			}
			taken[cfg.Path] = true
			cfgs = append(cfgs, cfg)
		}
	}
	out := make([]stores.Store, len(cfgs))
	appstore.Parallel(ctx, len(cfgs), func(i int) { out[i] = appstore.NewFile(env, users, cfgs[i]) })
	if err := ctx.Err(); err != nil {
		return nil, err // some stores were not made
	}
	var refs []appstore.Ref
	for _, r := range configRefs(ctx, env, envs, homes, tops) {
		if resolved, err := appstore.Resolve(env.Root, r.Path); err == nil && taken[resolved] {
			continue // names a certifi bundle already listed
		}
		refs = append(refs, r)
	}
	out = append(out, appstore.RefStores(env, users, stores.KindPython, FormatConfigured, refs, cache)...)
	return out, nil
}

// bundleConfig is the store of bundle b of environment e: a link in a
// home is reported, not followed; a system prefix's link is followed
// when only root could have made it.
func bundleConfig(root string, e Environment, b bundle, cache *pembundle.Cache) appstore.FileConfig {
	cfg := appstore.FileConfig{Kind: stores.KindPython, Path: b.path, Format: b.format,
		App: b.app, VendorHeaders: true, Cache: cache}
	switch {
	case e.Home != "" && b.mode&fs.ModeSymlink != 0:
		// found by walking real directories from a resolved home: only
		// the file itself can be a link, and in a home it is not followed
		cfg.Note = fmt.Sprintf("%s is a symbolic link in a home: not followed (reinstall certifi so it is a regular file)", b.path)
	case e.Home == "":
		if resolved, err := appstore.Resolve(root, b.path); err == nil {
			cfg.Path = resolved
		} else if errors.Is(err, appstore.ErrUntrustedLink) {
			cfg.Note = fmt.Sprintf("%s is a symbolic link a user could have planted: not followed (reinstall certifi so it is a regular file)", b.path)
		}
	}
	return cfg
}

// bundle is one cacert.pem of an environment.
type bundle struct {
	path, format, app string
	mode              fs.FileMode // from lstat: a link is reported, not followed
}

// bundles returns the certifi bundles of e: certifi's own and pip's
// vendored copy when pip reads it. Distribution packages (system
// prefixes) may patch certifi to return the system bundle; the check
// reads their core.py. pip's vendored copy is checked everywhere (Debian
// patches the pip that python3 -m venv installs).
func bundles(root string, e Environment) []bundle {
	var out []bundle
	app := e.Kind + " " + e.Prefix
	if e.Version != "" {
		app = fmt.Sprintf("%s python%s %s", e.Kind, e.Version, e.Prefix)
	}
	for _, site := range e.SiteDirs {
		p := path.Join(site, "certifi", "cacert.pem")
		if m, ok := lmode(root, p); ok && !(e.Kind == "system" && redirected(root, path.Dir(p))) {
			out = append(out, bundle{p, FormatCertifi, app, m})
		}
		p = path.Join(site, "pip", "_vendor", "certifi", "cacert.pem")
		m, ok := lmode(root, p)
		if !ok {
			continue
		}
		pip := ""
		if _, minor, ok := majorMinor(e.Version); !ok || minor >= 10 {
			pip = pipVersion(root, site)
			if usesTruststore(pip, e.Version) {
				continue // pip ≥ 24.2 on Python ≥ 3.10 verifies with the system store
			}
		}
		if redirected(root, path.Dir(p)) {
			continue
		}
		out = append(out, bundle{p, FormatVendored, "pip " + orUnknown(pip) + " in " + app, m})
	}
	return out
}

// lmode is lstat's type of p, and whether it exists.
func lmode(root, p string) (fs.FileMode, bool) { return appstore.Lmode(root, p) }

func orUnknown(v string) string {
	if v == "" {
		return "(version unknown)"
	}
	return v
}

// whereRE finds certifi's where() functions and what the last one
// returns when it returns a name or a string literal.
var (
	whereRE    = regexp.MustCompile(`(?m)^def where\(\)[^:]*:\s*\n\s+return\s+([A-Za-z_][A-Za-z0-9_]*|'[^']*'|"[^"]*")\s*$`)
	anyWhereRE = regexp.MustCompile(`(?m)^\s*def where\(`)
)

// redirected reports whether the certifi package in dir was patched to
// return another file than its cacert.pem (Debian's python3-certifi and
// pip, Fedora's): where() at the top level of core.py, last of its kind,
// returning a constant path. The cacert.pem beside it is then unused.
func redirected(root, dir string) bool {
	data, err := appstore.ReadHint(root, path.Join(dir, "core.py"), 256<<10)
	if err != nil {
		return false
	}
	all := anyWhereRE.FindAllIndex(data, -1)
	m := whereRE.FindAllSubmatchIndex(data, -1)
	if len(all) == 0 || len(m) == 0 || m[len(m)-1][0] < all[len(all)-1][0] {
		return false // the last where() is certifi's own
	}
	last := m[len(m)-1]
	ret := string(data[last[2]:last[3]])
	if ret[0] == '\'' || ret[0] == '"' {
		return strings.HasPrefix(ret[1:], "/")
	}
	assign := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(ret) + `\s*=\s*['"](/[^'"]+)['"]`)
	return assign.Match(data)
}

var pipVersionRE = regexp.MustCompile(`(?m)^__version__\s*=\s*["']([0-9][0-9A-Za-z.+-]*)["']`)

// pipVersion reads __version__ from site/pip/__init__.py.
func pipVersion(root, site string) string {
	data, err := appstore.ReadHint(root, path.Join(site, "pip", "__init__.py"), 64<<10)
	if err != nil {
		return ""
	}
	if m := pipVersionRE.FindSubmatch(data); m != nil {
		return string(m[1])
	}
	return ""
}

// usesTruststore reports whether pip verifies with the system store by
// default: pip 24.2 and later on Python 3.10 and later.
func usesTruststore(pip, python string) bool {
	pm, pn, ok1 := majorMinor(pip)
	ym, yn, ok2 := majorMinor(python)
	if !ok1 || !ok2 {
		return false
	}
	return (pm > 24 || pm == 24 && pn >= 2) && (ym > 3 || ym == 3 && yn >= 10)
}

func majorMinor(v string) (int, int, bool) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	a, err1 := strconv.Atoi(parts[0])
	b, err2 := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	return a, b, err1 == nil && err2 == nil
}

// venvVersion reads "version = 3.12.1" (or version_info) from
// pyvenv.cfg and returns "3.12".
func venvVersion(root, prefix string) string {
	data, err := appstore.ReadHint(root, path.Join(prefix, "pyvenv.cfg"), 64<<10)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		k = strings.TrimSpace(k)
		if ok && (k == "version" || k == "version_info") {
			if a, b, ok := majorMinor(strings.TrimSpace(v)); ok {
				return fmt.Sprintf("%d.%d", a, b)
			}
		}
	}
	return ""
}
