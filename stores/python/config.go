package python

import (
	"bufio"
	"bytes"
	"context"
	"io/fs"
	"path"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/internal/appstore"
)

// EnvVars are the system-wide variables that point Python programs at a
// bundle: requests (and the Azure CLI, which is requests), OpenSSL's
// default file for the ssl module, pip.
var EnvVars = []string{"REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "PIP_CERT"}

// pip's configuration files: system-wide, then in each home.
var (
	pipSystemConfigs = []string{"/etc/pip.conf", "/etc/xdg/pip/pip.conf",
		"/Library/Application Support/pip/pip.conf", "/ProgramData/pip/pip.ini"}
	pipHomeConfigs = []string{".config/pip/pip.conf", ".pip/pip.conf",
		"Library/Application Support/pip/pip.conf", "AppData/Roaming/pip/pip.ini"}
	condaSystemConfigs = []string{"/etc/conda/.condarc", "/etc/conda/condarc", "/var/lib/conda/.condarc"}
	condaHomeConfigs   = []string{".condarc", ".conda/.condarc", ".config/conda/.condarc", ".config/conda/condarc"}
)

// configRefs returns the files pip's cert, conda's ssl_verify and the
// system-wide environment name.
func configRefs(ctx context.Context, env stores.Env, envs []Environment, homes []appstore.Home, tops []map[string]fs.FileMode) []appstore.Ref {
	var refs []appstore.Ref
	for _, v := range appstore.SystemEnv(ctx, env) {
		for _, name := range EnvVars {
			if strings.EqualFold(v.Name, name) {
				if p, ok := appstore.ConfigPath(v.Value, ""); ok {
					refs = append(refs, appstore.Ref{Path: p, Via: name + " in " + v.Source})
				}
			}
		}
	}
	pip := func(conf, home string) {
		data, actor, err := appstore.ReadConfig(ctx, env.Root, conf)
		if err != nil {
			return
		}
		if s, ok := appstore.Lookup(appstore.ParseINI(data), "global", "", "cert"); ok {
			if p, ok := appstore.ConfigPath(s.Value, home); ok {
				refs = append(refs, appstore.Ref{Path: p, Via: "pip cert in " + conf, Actor: actor})
			}
		}
	}
	conda := func(conf, home string) {
		data, actor, err := appstore.ReadConfig(ctx, env.Root, conf)
		if err != nil {
			return
		}
		if v, ok := CondaSSLVerify(data); ok {
			if p, ok := appstore.ConfigPath(v, home); ok {
				refs = append(refs, appstore.Ref{Path: p, Via: "conda ssl_verify in " + conf, Actor: actor})
			}
		}
	}
	for _, c := range pipSystemConfigs {
		pip(c, "")
	}
	for _, c := range condaSystemConfigs {
		conda(c, "")
	}
	for _, e := range envs {
		if e.Kind == "conda" {
			conda(path.Join(e.Prefix, ".condarc"), e.Home)
		}
		if e.Kind == "venv" {
			pip(path.Join(e.Prefix, "pip.conf"), e.Home)
		}
	}
	for i, h := range homes {
		has := func(rel string) bool {
			first, _, _ := strings.Cut(rel, "/")
			_, ok := tops[i][first]
			return ok
		}
		for _, c := range pipHomeConfigs {
			if has(c) {
				pip(path.Join(h.Path, c), h.Path)
			}
		}
		for _, c := range condaHomeConfigs {
			if has(c) {
				conda(path.Join(h.Path, c), h.Path)
			}
		}
	}
	return refs
}

// CondaSSLVerify returns the value of the top-level ssl_verify key of a
// .condarc (YAML) when it names a file: not true/false/truststore.
func CondaSSLVerify(data []byte) (string, bool) {
	if len(data) > 1<<20 {
		data = data[:1<<20]
	}
	var val string
	found := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "ssl_verify:")
		if !ok {
			continue
		}
		v := strings.TrimSpace(rest)
		if i := strings.Index(v, " #"); i >= 0 {
			v = strings.TrimSpace(v[:i])
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		val, found = v, true
	}
	switch strings.ToLower(val) {
	case "", "true", "false", "yes", "no", "on", "off", "truststore", "null", "~":
		return "", false
	}
	return val, found
}
