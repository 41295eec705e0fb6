package container

import (
	"fmt"
	"sort"
	"strings"
)

// Layout is what a registry directory holds, by Docker's rules.
type Layout struct {
	CAFiles []string // *.crt: CA certificates, read
	Ignored []string // cert-looking files the daemon does not read (.pem, .cer, .der)
	// Err is set when the daemon fails every pull from this registry
	// (a client certificate without its key or the reverse).
	Err error
}

// Rules applies the certs.d rules to the names in one registry directory
// (regular files only): moby's ReadCertsDirectory, which containerd's
// hosts fallback and containers-certs.d(5) follow.
func Rules(names []string) Layout {
	sort.Strings(names)
	has := map[string]bool{}
	for _, n := range names {
		has[n] = true
	}
	var l Layout
	for _, n := range names {
		switch ext := extOf(n); ext {
		case ".crt":
			l.CAFiles = append(l.CAFiles, n)
		case ".cert":
			if k := strings.TrimSuffix(n, ".cert") + ".key"; !has[k] && l.Err == nil {
				l.Err = fmt.Errorf("client certificate %s has no %s: the daemon fails every pull from this registry (CA files must end in .crt)", n, k)
			}
		case ".key":
			if c := strings.TrimSuffix(n, ".key") + ".cert"; !has[c] && l.Err == nil {
				l.Err = fmt.Errorf("key %s has no %s: the daemon fails every pull from this registry", n, c)
			}
		case ".pem", ".cer", ".der", ".ca":
			l.Ignored = append(l.Ignored, n)
		}
	}
	return l
}

// extOf is filepath.Ext on a bare name.
func extOf(n string) string {
	if i := strings.LastIndexByte(n, '.'); i >= 0 {
		return n[i:]
	}
	return ""
}
