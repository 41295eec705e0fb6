package python

import (
	"context"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/internal/appstore"
)

// Environment is one Python installation or virtual environment.
type Environment struct {
	Prefix   string   // inside the root
	Kind     string   // system, venv, conda, pyenv, user-site, azure-cli, …
	Version  string   // "3.11" when known
	SiteDirs []string // site-packages directories, inside the root
	Home     string   // the home it was found in, "" for system prefixes
}

// Python returns the interpreter of the environment (inside the root) or
// "" when none is found.
func (e Environment) Python(root string) string {
	cands := []string{"bin/python3", "bin/python", "python.exe", "Scripts/python.exe"}
	if e.Kind == "system" {
		cands = []string{"bin/python3"}
	}
	for _, c := range cands {
		p := path.Join(e.Prefix, c)
		if fi, err := os.Stat(hostPath(root, p)); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// systemPrefixes hold one Python each.
var systemPrefixes = []string{"/usr", "/usr/local", "/opt/homebrew"}

// prefixParents hold one installation per child directory (and conda
// environments under each child's envs/).
var prefixParents = []string{
	"/opt",
	"/Library/Frameworks/Python.framework/Versions",
	"/Program Files",
	"/ProgramData",
}

// homeEnvs are environments at fixed places in a home; a trailing "/*"
// means every child directory.
var homeEnvs = []struct{ rel, kind string }{
	{".venv", "venv"}, {"venv", "venv"}, {".local", "user-site"},
	{".virtualenvs/*", "venv"}, {".local/share/virtualenvs/*", "venv"}, {".cache/pypoetry/virtualenvs/*", "venv"},
	{".local/pipx/venvs/*", "venv"}, {".local/share/pipx/venvs/*", "venv"},
	{".pyenv/versions/*", "pyenv"},
	{"miniconda3", "conda"}, {"anaconda3", "conda"}, {"miniforge3", "conda"}, {"mambaforge", "conda"},
	{"miniconda3/envs/*", "conda"}, {"anaconda3/envs/*", "conda"}, {"miniforge3/envs/*", "conda"},
	{"mambaforge/envs/*", "conda"}, {".conda/envs/*", "conda"}, {"micromamba/envs/*", "conda"},
	{"AppData/Local/Programs/Python/*", "system"}, {"Library/Python/*/lib/python", "user-site"},
}

// skipScan are home directories that do not hold projects.
var skipScan = map[string]bool{"Downloads": true, "Pictures": true, "Music": true, "Videos": true,
	"Desktop": true, "Public": true, "Templates": true, "snap": true, "go": true, "node_modules": true,
	"Library": true, "AppData": true}

// maxScan bounds the directories listed per level of the home scan.
const maxScan = 256

// Environments returns every Python environment under root, each once
// (by prefix), system prefixes first, then homes in order. A home costs a
// listing per directory scanned, an environment a listing of lib/ and a
// few lstats (BenchmarkAppStores in cmd/anchorwatch measures it).
func Environments(ctx context.Context, root string) []Environment {
	es, _ := environments(ctx, root, appstore.Homes(ctx, root))
	return es
}

// environments also returns each home's listing (by home path), which
// the configuration lookups use to skip files whose directory is absent.
func environments(ctx context.Context, root string, homes []appstore.Home) ([]Environment, []map[string]fs.FileMode) {
	var out []Environment
	seen := map[string]bool{}
	add := func(prefix, kind, home string) {
		if seen[prefix] || !isDir(root, prefix) {
			return
		}
		seen[prefix] = true
		if e, ok := probe(root, prefix, kind); ok {
			e.Home = home
			out = append(out, e)
		}
	}
	for _, p := range systemPrefixes {
		add(p, "system", "")
	}
	for _, parent := range prefixParents {
		for _, c := range subdirs(root, parent, maxScan) {
			p := path.Join(parent, c)
			add(p, kindOf(p), "")
			for _, env := range subdirs(root, path.Join(p, "envs"), maxScan) {
				add(path.Join(p, "envs", env), "conda", "")
			}
		}
	}
	tops := make([]map[string]fs.FileMode, len(homes))
	found := make([][]Environment, len(homes))
	appstore.Parallel(ctx, len(homes), func(i int) {
		tops[i] = listing(root, homes[i].Path)
		found[i] = homeEnvironments(root, homes[i].Path, tops[i])
	})
	for _, es := range found {
		for _, e := range es {
			if !seen[e.Prefix] {
				seen[e.Prefix] = true
				out = append(out, e)
			}
		}
	}
	return out, tops
}

// homeEnvironments finds the environments of one home (top is its
// listing): at the fixed places whose first directory the home holds,
// and by the scan.
func homeEnvironments(root, home string, top map[string]fs.FileMode) []Environment {
	var out []Environment
	seen := map[string]bool{}
	add := func(prefix, kind string) {
		if seen[prefix] {
			return
		}
		seen[prefix] = true
		if e, ok := probe(root, prefix, kind); ok {
			e.Home = home
			out = append(out, e)
		}
	}
	for _, he := range homeEnvs {
		first, _, _ := strings.Cut(he.rel, "/")
		if !top[first].IsDir() {
			continue
		}
		for _, p := range expand(root, path.Join(home, he.rel)) {
			add(p, he.kind)
		}
	}
	for _, p := range scanHome(root, home, top) {
		add(p, "venv")
	}
	return out
}

// kindOf names what an /opt (or Program Files) install is.
func kindOf(p string) string {
	switch b := strings.ToLower(path.Base(p)); {
	case b == "az" || strings.Contains(strings.ToLower(p), "azure/cli2"):
		return "azure-cli"
	case strings.Contains(b, "conda") || strings.Contains(b, "forge") || strings.Contains(b, "mamba"):
		return "conda"
	}
	return "system"
}

// expand returns p, or for p ending in "/*" every child directory.
func expand(root, p string) []string {
	if !strings.HasSuffix(p, "/*") {
		return []string{p}
	}
	parent := strings.TrimSuffix(p, "/*")
	if strings.Contains(parent, "*") { // Library/Python/*/lib/python
		return nil
	}
	var out []string
	for _, c := range subdirs(root, parent, maxScan) {
		out = append(out, path.Join(parent, c))
	}
	return out
}

// scanHome finds virtualenvs by their pyvenv.cfg: a home directory that
// is one, and .venv / venv / env inside a home directory or .venv / venv
// one level further down (~/src/project/.venv). top is the home's
// listing.
func scanHome(root, home string, top map[string]fs.FileMode) []string {
	var out []string
	isVenv := func(p string) bool { return exists(root, path.Join(p, "pyvenv.cfg")) }
	for _, c := range sortedDirs(top) {
		if strings.HasPrefix(c, ".") || skipScan[c] {
			continue
		}
		dir := path.Join(home, c)
		kids := listing(root, dir)
		if m, ok := kids["pyvenv.cfg"]; ok && m.IsRegular() {
			out = append(out, dir)
			continue
		}
		for _, v := range []string{".venv", "venv", "env"} {
			if kids[v].IsDir() && isVenv(path.Join(dir, v)) {
				out = append(out, path.Join(dir, v))
			}
		}
		for _, g := range sortedDirs(kids) {
			if strings.HasPrefix(g, ".") || g == "venv" || g == "env" || skipScan[g] {
				continue
			}
			for _, v := range []string{".venv", "venv"} {
				if p := path.Join(dir, g, v); isVenv(p) {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// listing maps the names in dir to their types (links as links).
func listing(root, dir string) map[string]fs.FileMode { return appstore.ListDir(root, dir, 4*maxScan) }

// sortedDirs returns the directories (not links) of a listing, sorted,
// at most maxScan.
func sortedDirs(m map[string]fs.FileMode) []string {
	var out []string
	for n, t := range m {
		if t.IsDir() {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	if len(out) > maxScan {
		out = out[:maxScan]
	}
	return out
}

// probe looks for site-packages directories under prefix.
func probe(root, prefix, kind string) (Environment, bool) {
	e := Environment{Prefix: prefix, Kind: kind}
	lib := path.Join(prefix, "lib")
	if kind == "user-site" && strings.HasSuffix(prefix, "lib/python") { // macOS user site
		e.SiteDirs = siteIn(root, prefix, false)
		return e, len(e.SiteDirs) > 0
	}
	for _, name := range subdirs(root, lib, maxScan) {
		switch {
		case strings.EqualFold(name, "site-packages"): // Windows layout: Lib\site-packages
			e.SiteDirs = append(e.SiteDirs, path.Join(lib, name))
		case strings.HasPrefix(name, "python3"):
			if e.Version == "" {
				e.Version = strings.TrimPrefix(name, "python")
			}
			e.SiteDirs = append(e.SiteDirs, siteIn(root, path.Join(lib, name), kind == "system")...)
		}
	}
	if e.Version == "" {
		e.Version = venvVersion(root, prefix)
	}
	return e, len(e.SiteDirs) > 0
}

// siteIn returns dir/site-packages and, for system prefixes (Debian's
// own), dir/dist-packages, that exist.
func siteIn(root, dir string, system bool) []string {
	names := []string{"site-packages"}
	if system {
		names = append(names, "dist-packages")
	}
	var out []string
	for _, s := range names {
		if p := path.Join(dir, s); isDir(root, p) {
			out = append(out, p)
		}
	}
	return out
}

// subdirs lists the child directories of dir (not links), sorted, at
// most max of them.
func subdirs(root, dir string, max int) []string {
	out := sortedDirs(appstore.ListDir(root, dir, 4*max))
	if len(out) > max {
		out = out[:max]
	}
	return out
}

func exists(root, p string) bool {
	_, ok := appstore.Lmode(root, p)
	return ok
}

func isDir(root, p string) bool {
	m, ok := appstore.Lmode(root, p)
	return ok && m.IsDir()
}

func hostPath(root, p string) string { return fsroot.HostPath(root, p) }
