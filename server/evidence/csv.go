package evidence

import (
	"bytes"
	"encoding/csv"
	"net/netip"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/macaddr"
)

// csvFormat parses a plain CSV for any other evidence:
//
//	ip,mac,hostname,seen_at,source
//	10.0.0.7,00:11:22:33:44:55,printer-2,2024-01-10T08:00:00Z,arpwatch
//
// With a header line, columns are found by name (in any order, extra
// columns ignored; "time" or "seen" name seen_at too); without one they
// are taken in the order above. seen_at is RFC 3339, "2006-01-02 15:04:05"
// (UTC) or Unix seconds; empty means when the file was written. A row
// needs at least one of ip, mac and hostname. A source names the
// Observation's Source "csv:<source>".
type csvFormat struct {
	modTime time.Time
	col     map[string]int
	first   bool
	aggs    []Observation
	index   map[csvKey]int
}

type csvKey struct {
	leaseKey
	source string
}

var csvColumns = []string{"ip", "mac", "hostname", "seen_at", "source"}

func newCSV(o Options) *csvFormat {
	p := &csvFormat{modTime: o.ModTime.UTC().Truncate(time.Second), first: true, index: make(map[csvKey]int)}
	if len(o.Header) > 0 {
		// Resuming past the first line: it sets the columns only if
		// it is a header; a data line was handled before.
		r := csv.NewReader(bytes.NewReader(o.Header))
		r.FieldsPerRecord = -1
		if rec, err := r.Read(); err == nil && isCSVHeader(rec) {
			p.line(o.Header)
		}
		p.first = false
	}
	return p
}

func (p *csvFormat) snapshot() bool { return true }
func (p *csvFormat) finish() int64  { return 0 }

// line reads one CSV row: the first row names the columns (address,
// MAC, hostname, time, each under its usual names); later rows are read
// through them. Long: the header and the row are one format's two cases.
func (p *csvFormat) line(b []byte) lineResult {
	if len(bytes.TrimSpace(b)) == 0 || b[0] == '#' {
		return lineIgnored
	}
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	rec, err := r.Read()
	if err != nil || len(rec) > 64 {
		return lineMalformed
	}
	first := p.first
	p.first = false
	if first && isCSVHeader(rec) {
		p.col = make(map[string]int)
		for i, name := range rec {
			name = strings.ToLower(strings.TrimSpace(name))
			switch name {
			case "ip", "address", "ip_address", "ipaddr":
				name = "ip"
			case "mac", "hwaddr", "mac_address":
				name = "mac"
			case "hostname", "host", "name":
				name = "hostname"
			case "seen_at", "seen", "time", "timestamp":
				name = "seen_at"
			}
			if _, dup := p.col[name]; !dup {
				p.col[name] = i
			}
		}
		return lineIgnored
	}
	get := func(name string, pos int) string {
		i := pos
		if p.col != nil {
			var ok bool
			if i, ok = p.col[name]; !ok {
				return ""
			}
		}
		if i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var (
		ip   netip.Addr
		mac  string
		host string
		ok   bool
	)
	if s := get("ip", 0); s != "" {
		if ip, ok = parseAddr([]byte(s)); !ok {
			return lineMalformed
		}
	}
	if s := get("mac", 1); s != "" {
		if mac, ok = macaddr.Normalize(s); !ok {
			return lineMalformed
		}
	}
	if s := get("hostname", 2); s != "" {
		if host, ok = cleanHostname(s); !ok {
			return lineMalformed
		}
	}
	if !ip.IsValid() && mac == "" && host == "" {
		return lineMalformed
	}
	seen := p.modTime
	if s := get("seen_at", 3); s != "" {
		if seen, ok = parseCSVTime(s); !ok {
			return lineMalformed
		}
	}
	source := SourceCSV
	if s := get("source", 4); s != "" {
		source = SourceCSV + ":" + sanitizeSource(s)
	}
	key := csvKey{leaseKey{ip, mac, host}, source}
	if i, dup := p.index[key]; dup {
		p.aggs[i].see(seen)
		return lineParsed
	}
	p.index[key] = len(p.aggs)
	p.aggs = append(p.aggs, Observation{Source: source, IP: ip, MAC: mac, Hostname: host, Time: seen, Last: seen, Count: 1})
	return lineParsed
}

func (p *csvFormat) pending() int { return len(p.aggs) }

func (p *csvFormat) flush(dst []Observation, _ bool) ([]Observation, bool) {
	dst = append(dst, p.aggs...)
	p.aggs = p.aggs[:0]
	clear(p.index)
	return dst, true
}

func isCSVHeader(rec []string) bool {
	for _, f := range rec {
		f = strings.ToLower(strings.TrimSpace(f))
		for _, c := range csvColumns {
			if f == c {
				return true
			}
		}
		if f == "address" || f == "hwaddr" || f == "ip_address" {
			return true
		}
	}
	return false
}

func parseCSVTime(s string) (time.Time, bool) {
	if t, ok := parseEpoch([]byte(s)); ok {
		return t, true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// sanitizeSource keeps a source name short and plain: lowercase letters,
// digits, '-', '_' and '.'.
func sanitizeSource(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if b.Len() >= 32 {
			break
		}
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}
