package proxy

import (
	"fmt"
	"net/netip"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/policy"
)

// ExportFile is one file of a do-not-decrypt export.
type ExportFile struct {
	Name string
	Data []byte
}

// BypassPrefix starts the name of every exported file; an export owns the
// files with this prefix in its directory.
const BypassPrefix = "anchorwatch-bypass"

// Export formats.
const (
	FormatSquid = "squid"
	FormatPlain = "plain"
)

// Export is a do-not-decrypt list ready to write: the entries in force
// and what was left out.
type Export struct {
	Serial  int64
	At      time.Time
	Active  []policy.Bypass
	Expired int
}

// NewExport takes the entries of d in force at now.
func NewExport(d *policy.Document, now time.Time) Export {
	act := d.ActiveBypasses(now)
	return Export{Serial: d.Serial, At: now.UTC(), Active: act, Expired: len(d.DoNotDecrypt) - len(act)}
}

func (e Export) header() string {
	return fmt.Sprintf("# Anchorwatch do-not-decrypt list from policy serial %d: %d entries in force, %d expired and left out.\n# Generated: do not edit; change the policy and export again.\n",
		e.Serial, len(e.Active), e.Expired)
}

// comment renders an entry's reason and expiry as one comment line.
func comment(b policy.Bypass) string {
	reason := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, b.Reason)
	return fmt.Sprintf("# %s (until %s)\n", reason, b.Expires.UTC().Format(time.RFC3339))
}

// splitDestinations sorts destinations into host names (Squid dstdomain
// syntax: ".example.org" covers the domain and every name under it) and
// subnets.
func splitDestinations(dsts []string) (names, subnets []string) {
	for _, d := range dsts {
		if _, err := netip.ParsePrefix(d); err == nil {
			subnets = append(subnets, d)
			continue
		}
		if rest, ok := strings.CutPrefix(d, "*."); ok {
			d = "." + rest
		}
		names = append(names, d)
	}
	return names, subnets
}

// squidACL is one Squid ACL file and the ACL that reads it: values, each
// under the comment of the entry it came from.
type squidACL struct {
	name, kind, file string
	items            []aclItem
}

type aclItem struct{ value, note string }

func (a *squidACL) add(b policy.Bypass, values []string) {
	for _, v := range values {
		a.items = append(a.items, aclItem{v, comment(b)})
	}
}

// render writes the values, dropping repeats and host names a wildcard in
// the same ACL covers (Squid warns about such overlaps, newer versions
// refuse them).
func (a *squidACL) render(header string) []byte {
	var b strings.Builder
	b.WriteString(header)
	seen := map[string]bool{}
	note := ""
	for _, it := range a.items {
		if seen[it.value] || a.covered(it.value) {
			continue
		}
		seen[it.value] = true
		if it.note != note {
			b.WriteString(it.note)
			note = it.note
		}
		b.WriteString(it.value + "\n")
	}
	return []byte(b.String())
}

func (a *squidACL) covered(v string) bool {
	for _, it := range a.items {
		w := it.value
		if w != v && strings.HasPrefix(w, ".") && (v == w[1:] || strings.HasSuffix(v, w)) {
			return true
		}
	}
	return false
}

// Squid renders the list for Squid: ACL files (ssl::server_name for host
// names, dst for addresses, src for clients) and anchorwatch-bypass.conf,
// which defines the ACLs and the ssl_bump splice rules. dir is where the
// files will be on the proxy (the conf names them by absolute path).
// Include the conf after "ssl_bump peek step1" and before any bump rule.
func (e Export) Squid(dir string) []ExportFile {
	var acls []*squidACL
	var rules []string
	newACL := func(suffix, kind string) *squidACL {
		a := &squidACL{name: "aw_bypass_" + strings.ReplaceAll(suffix, "-", "_"), kind: kind, file: BypassPrefix + "-" + suffix + ".txt"}
		acls = append(acls, a)
		return a
	}
	shared := map[string]*squidACL{}
	for i, b := range e.Active {
		names, subnets := splitDestinations(b.Destinations)
		if len(b.Clients) == 0 || len(b.Destinations) == 0 {
			for _, g := range []struct {
				suffix, kind string
				values       []string
			}{{"sni", "ssl::server_name", names}, {"dst", "dst", subnets}, {"src", "src", b.Clients}} {
				if len(g.values) == 0 {
					continue
				}
				if shared[g.suffix] == nil {
					shared[g.suffix] = newACL(g.suffix, g.kind)
					rules = append(rules, "ssl_bump splice "+shared[g.suffix].name)
				}
				shared[g.suffix].add(b, g.values)
			}
			continue
		}
		// Those clients to those destinations only: one rule per kind
		// of destination, each ANDed with the clients.
		src := newACL(fmt.Sprintf("%d-src", i), "src")
		src.add(b, b.Clients)
		for _, g := range []struct {
			suffix, kind string
			values       []string
		}{{"sni", "ssl::server_name", names}, {"dst", "dst", subnets}} {
			if len(g.values) > 0 {
				a := newACL(fmt.Sprintf("%d-%s", i, g.suffix), g.kind)
				a.add(b, g.values)
				rules = append(rules, "ssl_bump splice "+src.name+" "+a.name)
			}
		}
	}
	var conf strings.Builder
	conf.WriteString(e.header())
	conf.WriteString("# Include after \"ssl_bump peek step1\" and before any ssl_bump bump/stare rule:\n#   include " + path.Join(dir, BypassPrefix+".conf") + "\n")
	var files []ExportFile
	for _, a := range acls {
		fmt.Fprintf(&conf, "acl %s %s \"%s\"\n", a.name, a.kind, path.Join(dir, a.file))
		files = append(files, ExportFile{Name: a.file, Data: a.render(e.header())})
	}
	for _, r := range rules {
		conf.WriteString(r + "\n")
	}
	return append(files, ExportFile{Name: BypassPrefix + ".conf", Data: []byte(conf.String())})
}

// Plain renders the list for other proxies: destinations (bypassed for
// every client), clients (never decrypted) and client-destination pairs,
// one per line, with the reason and expiry as comments.
func (e Export) Plain() []ExportFile {
	var dst, src, pairs strings.Builder
	for _, b := range e.Active {
		switch {
		case len(b.Clients) == 0:
			dst.WriteString(comment(b) + strings.Join(b.Destinations, "\n") + "\n")
		case len(b.Destinations) == 0:
			src.WriteString(comment(b) + strings.Join(b.Clients, "\n") + "\n")
		default:
			pairs.WriteString(comment(b))
			for _, c := range b.Clients {
				for _, d := range b.Destinations {
					pairs.WriteString(c + " " + d + "\n")
				}
			}
		}
	}
	h := e.header()
	return []ExportFile{
		{Name: BypassPrefix + "-destinations.txt", Data: []byte(h + "# Destinations never decrypted (*.domain covers the domain and every name under it):\n" + dst.String())},
		{Name: BypassPrefix + "-clients.txt", Data: []byte(h + "# Clients whose traffic is never decrypted:\n" + src.String())},
		{Name: BypassPrefix + "-pairs.txt", Data: []byte(h + "# client destination: that client's traffic to that destination is not decrypted:\n" + pairs.String())},
	}
}

// StaleFiles returns the names among existing (a directory listing) that
// an earlier export wrote and this one does not.
func StaleFiles(existing []string, files []ExportFile) []string {
	keep := map[string]bool{}
	for _, f := range files {
		keep[f.Name] = true
	}
	var stale []string
	for _, n := range existing {
		if strings.HasPrefix(n, BypassPrefix) && (strings.HasSuffix(n, ".txt") || strings.HasSuffix(n, ".conf")) && !keep[n] {
			stale = append(stale, n)
		}
	}
	sort.Strings(stale)
	return stale
}
