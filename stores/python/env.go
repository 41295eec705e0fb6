package python

import (
	"context"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

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
// (by prefix), system prefixes first, then homes in order.
func Environments(ctx context.Context, root string) []Environment {
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
	for _, h := range appstore.Homes(ctx, root) {
		if ctx.Err() != nil {
			break
		}
		for _, he := range homeEnvs {
			for _, p := range expand(root, path.Join(h.Path, he.rel)) {
				add(p, he.kind, h.Path)
			}
		}
		for _, p := range scanHome(root, h.Path) {
			add(p, "venv", h.Path)
		}
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
// is one, and .venv / venv / env inside a home directory or one level
// further down (~/src/project/.venv).
func scanHome(root, home string) []string {
	var out []string
	isVenv := func(p string) bool { return exists(root, path.Join(p, "pyvenv.cfg")) }
	look := func(dir string) {
		for _, v := range []string{".venv", "venv", "env"} {
			if p := path.Join(dir, v); isVenv(p) {
				out = append(out, p)
			}
		}
	}
	for _, c := range subdirs(root, home, maxScan) {
		if strings.HasPrefix(c, ".") || skipScan[c] {
			continue
		}
		dir := path.Join(home, c)
		if isVenv(dir) {
			out = append(out, dir)
			continue
		}
		look(dir)
		for _, g := range subdirs(root, dir, maxScan) {
			if !strings.HasPrefix(g, ".") && g != "venv" && g != "env" && !skipScan[g] {
				look(path.Join(dir, g))
			}
		}
	}
	return out
}

// probe looks for site-packages directories under prefix.
func probe(root, prefix, kind string) (Environment, bool) {
	e := Environment{Prefix: prefix, Kind: kind}
	lib := path.Join(prefix, "lib")
	if kind == "user-site" && strings.HasSuffix(prefix, "lib/python") { // macOS user site
		e.SiteDirs = siteIn(root, prefix)
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
			e.SiteDirs = append(e.SiteDirs, siteIn(root, path.Join(lib, name))...)
		}
	}
	if e.Version == "" {
		e.Version = venvVersion(root, prefix)
	}
	return e, len(e.SiteDirs) > 0
}

// siteIn returns dir/site-packages and dir/dist-packages that exist.
func siteIn(root, dir string) []string {
	var out []string
	for _, s := range []string{"site-packages", "dist-packages"} {
		if p := path.Join(dir, s); isDir(root, p) {
			out = append(out, p)
		}
	}
	return out
}

// subdirs lists the child directories of dir (not links), sorted, at
// most max of them.
func subdirs(root, dir string, max int) []string {
	f, err := os.Open(hostPath(root, dir))
	if err != nil {
		return nil
	}
	defer f.Close()
	ents, _ := f.ReadDir(4 * max)
	var out []string
	for _, e := range ents {
		if e.IsDir() && e.Type()&fs.ModeSymlink == 0 {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	if len(out) > max {
		out = out[:max]
	}
	return out
}

func exists(root, p string) bool {
	_, err := os.Lstat(hostPath(root, p))
	return err == nil
}

func isDir(root, p string) bool {
	fi, err := os.Lstat(hostPath(root, p))
	return err == nil && fi.IsDir()
}

func hostPath(root, p string) string {
	p = path.Clean("/" + p)
	if root == "" || root == "/" {
		return p
	}
	return strings.TrimSuffix(root, "/") + p
}
