package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/policy"
)

func exportFiles(files []ExportFile) map[string]string {
	m := map[string]string{}
	for _, f := range files {
		m[f.Name] = string(f.Data)
	}
	return m
}

// values are the non-comment lines of an exported file.
func values(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, " ")
}

func TestExportSquid(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	until, past := now.Add(time.Hour), now.Add(-time.Hour)
	d := &policy.Document{Serial: 4, DoNotDecrypt: []policy.Bypass{
		{Destinations: []string{"*.bank.example", "www.bank.example", "192.0.2.0/24"}, Reason: "banks", Expires: &until},
		{Destinations: []string{"bank.example", "health.example"}, Reason: "health", Expires: &until},
		{Clients: []string{"10.0.0.5/32"}, Reason: "works council", Expires: &until},
		{Destinations: []string{"old.example"}, Reason: "expired", Expires: &past},
		{Clients: []string{"10.0.0.9/32"}, Destinations: []string{"login.pinned.example", "198.51.100.7/32"}, Reason: "pinned\tapp", Expires: &until},
	}}
	e := NewExport(d, now)
	if len(e.Active) != 4 || e.Expired != 1 {
		t.Fatalf("export %+v", e)
	}
	m := exportFiles(e.Squid("/etc/squid/aw"))
	for name, want := range map[string]string{
		"anchorwatch-bypass-sni.txt":   ".bank.example health.example", // www.bank.example and bank.example are covered
		"anchorwatch-bypass-dst.txt":   "192.0.2.0/24",
		"anchorwatch-bypass-src.txt":   "10.0.0.5/32",
		"anchorwatch-bypass-3-src.txt": "10.0.0.9/32",
		"anchorwatch-bypass-3-sni.txt": "login.pinned.example",
		"anchorwatch-bypass-3-dst.txt": "198.51.100.7/32",
		"anchorwatch-bypass.conf": `acl aw_bypass_sni ssl::server_name "/etc/squid/aw/anchorwatch-bypass-sni.txt" ` +
			`acl aw_bypass_dst dst "/etc/squid/aw/anchorwatch-bypass-dst.txt" acl aw_bypass_src src "/etc/squid/aw/anchorwatch-bypass-src.txt" ` +
			`acl aw_bypass_3_src src "/etc/squid/aw/anchorwatch-bypass-3-src.txt" acl aw_bypass_3_sni ssl::server_name "/etc/squid/aw/anchorwatch-bypass-3-sni.txt" ` +
			`acl aw_bypass_3_dst dst "/etc/squid/aw/anchorwatch-bypass-3-dst.txt" ssl_bump splice aw_bypass_sni ssl_bump splice aw_bypass_dst ` +
			`ssl_bump splice aw_bypass_src ssl_bump splice aw_bypass_3_src aw_bypass_3_sni ssl_bump splice aw_bypass_3_src aw_bypass_3_dst`,
	} {
		if got := values(m[name]); got != want {
			t.Errorf("%s:\n got  %s\n want %s", name, got, want)
		}
	}
	if len(m) != 7 {
		t.Errorf("files: %d", len(m))
	}
	if !strings.Contains(m["anchorwatch-bypass-3-src.txt"], "# pinned app (until 2027-01-01T01:00:00Z)\n") ||
		!strings.Contains(m["anchorwatch-bypass.conf"], "serial 4: 4 entries in force, 1 expired and left out") {
		t.Errorf("comments:\n%s\n%s", m["anchorwatch-bypass-3-src.txt"], m["anchorwatch-bypass.conf"])
	}
	for name, data := range m {
		if strings.Contains(data, "old.example") {
			t.Errorf("%s holds the expired entry", name)
		}
	}
	p := exportFiles(e.Plain())
	if got := values(p["anchorwatch-bypass-destinations.txt"]); got != "*.bank.example www.bank.example 192.0.2.0/24 bank.example health.example" {
		t.Errorf("plain destinations: %s", got)
	}
	if got := values(p["anchorwatch-bypass-pairs.txt"]); got != "10.0.0.9/32 login.pinned.example 10.0.0.9/32 198.51.100.7/32" {
		t.Errorf("plain pairs: %s", got)
	}
	stale := StaleFiles([]string{"anchorwatch-bypass-7-src.txt", "anchorwatch-bypass.conf", "squid.conf", "anchorwatch-bypass-sni.txt.bak"}, e.Squid("/x"))
	if strings.Join(stale, " ") != "anchorwatch-bypass-7-src.txt" {
		t.Errorf("stale files %v", stale)
	}
}
