package appstore

import (
	"context"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// EtcEnvironment is pam_env's file of variables for every login session.
const EtcEnvironment = "/etc/environment"

// environmentDirs are systemd's environment.d directories (user
// services and the sessions systemd starts), lowest priority first.
var environmentDirs = []string{"/usr/lib/environment.d", "/usr/local/lib/environment.d", "/etc/environment.d"}

// SystemEnv returns the variables set for every user under env.Root, in
// the order the programs apply them (a later one wins): pam_env's
// /etc/environment, systemd's environment.d, "export NAME=value" lines of
// /etc/profile.d/*.sh (read, never written: shell scripts are only
// scanned for plain assignments), and on a live Windows host the machine
// environment in the registry.
func SystemEnv(ctx context.Context, env stores.Env) []EnvVar {
	var out []EnvVar
	read := func(p string) {
		if data, _, err := fsroot.ReadBeneath(ctx, env.Root, p, maxConfig); err == nil {
			out = append(out, ParseEnvironment(data, p)...)
		}
	}
	read(EtcEnvironment)
	for _, d := range environmentDirs {
		for _, name := range sortedNames(env.Root, d, ".conf") {
			read(path.Join(d, name))
		}
	}
	for _, name := range sortedNames(env.Root, "/etc/profile.d", ".sh") {
		p := path.Join("/etc/profile.d", name)
		if data, _, err := fsroot.ReadBeneath(ctx, env.Root, p, maxConfig); err == nil {
			for _, v := range ParseEnvironment(data, p) {
				if isExport(data, v.Line) {
					out = append(out, v)
				}
			}
		}
	}
	return append(out, liveEnv(env)...)
}

// isExport reports whether line n of a shell script is "export X=…".
func isExport(data []byte, n int) bool {
	lines := splitLines(data)
	return n-1 < len(lines) && strings.HasPrefix(strings.TrimSpace(string(lines[n-1])), "export ")
}

// sortedNames lists the regular files (not links) of dir with suffix.
func sortedNames(root, dir, suffix string) []string {
	ents, err := os.ReadDir(fsroot.HostPath(root, dir))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), suffix) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}
