package evidence

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/macaddr"
)

// dhcpd parses ISC dhcpd.leases. The file is a journal: a lease is written
// again each time it changes. It is read in batches like a log, so memory
// stays bounded however many leases the file holds: within a batch the last
// block for an address wins, and a batch ends only between blocks. An
// address written again in a later batch is a later observation of it,
// exactly as if the file had grown between two ingests; the store keeps
// both, and the newest lease wins where an address is matched to a MAC.
//
//	lease 192.168.1.100 {
//	  starts 3 2024/01/10 08:00:00;
//	  ends 3 2024/01/10 20:00:00;
//	  cltt 3 2024/01/10 08:00:00;
//	  binding state active;
//	  hardware ethernet 00:11:22:33:44:55;
//	  client-hostname "laptop-1";
//	}
//
// Times are UTC ("W YYYY/MM/DD HH:MM:SS"), "epoch N;" (db-time-format
// local) or "never". Other blocks (host, failover, ia-na of DHCPv6) are
// skipped.
type dhcpd struct {
	depth   int  // brace depth
	inLease bool // inside a top-level lease block
	cur     leaseBlock
	last    map[netip.Addr]leaseBlock
	order   []netip.Addr
}

type leaseBlock struct {
	ip                netip.Addr
	starts, ends, clt time.Time
	state             string
	mac, host         string
	bad               bool
}

func newDHCPD(Options) *dhcpd { return &dhcpd{last: make(map[netip.Addr]leaseBlock)} }

func (p *dhcpd) snapshot() bool { return true }

func (p *dhcpd) finish() int64 {
	if p.depth > 0 {
		p.depth, p.inLease = 0, false
		return 1 // an unterminated block
	}
	return 0
}

// line reads one line of dhcpd.leases. Long: one case per statement of
// a lease block (lease, starts/ends/cltt, binding state, hardware,
// client-hostname, braces), as the file format lists them.
func (p *dhcpd) line(b []byte) lineResult {
	s := strings.TrimSpace(string(b))
	if s == "" || s[0] == '#' {
		return lineIgnored
	}
	if p.depth == 0 {
		if strings.HasSuffix(s, "{") {
			p.depth = 1
			head := strings.Fields(strings.TrimSuffix(s, "{"))
			if len(head) == 2 && head[0] == "lease" {
				ip, err := netip.ParseAddr(head[1])
				if err != nil {
					p.inLease = false
					return lineMalformed
				}
				p.inLease = true
				p.cur = leaseBlock{ip: ip.Unmap()}
			}
			return lineIgnored
		}
		if strings.HasSuffix(s, ";") {
			return lineIgnored // authoring-byte-order, server-duid, ...
		}
		return lineMalformed
	}
	if s == "}" {
		p.depth--
		if p.depth > 0 || !p.inLease {
			return lineIgnored
		}
		p.inLease = false
		lb := p.cur
		if lb.bad || (lb.starts.IsZero() && lb.clt.IsZero()) {
			return lineMalformed
		}
		if _, seen := p.last[lb.ip]; !seen {
			p.order = append(p.order, lb.ip)
		}
		p.last[lb.ip] = lb
		return lineParsed
	}
	if strings.HasSuffix(s, "{") {
		p.depth++
		return lineIgnored
	}
	if !p.inLease || p.depth != 1 {
		return lineIgnored
	}
	if i := strings.LastIndex(s, "; #"); i >= 0 && !strings.Contains(s[i:], "\"") {
		s = s[:i+1] // "epoch N; # human-readable date"
	}
	if !strings.HasSuffix(s, ";") {
		p.cur.bad = true
		return lineMalformed
	}
	s = strings.TrimSuffix(s, ";")
	key, val, _ := strings.Cut(s, " ")
	var ok bool
	switch key {
	case "starts":
		p.cur.starts, ok = dhcpdTime(val)
	case "ends":
		p.cur.ends, ok = dhcpdTime(val)
	case "cltt":
		p.cur.clt, ok = dhcpdTime(val)
	case "binding":
		st, found := strings.CutPrefix(val, "state ")
		p.cur.state, ok = strings.TrimSpace(st), found
	case "hardware":
		f := strings.Fields(val)
		if len(f) == 2 {
			p.cur.mac, ok = macaddr.Normalize(f[1])
		}
	case "client-hostname":
		if h, err := strconv.Unquote(val); err == nil {
			p.cur.host, ok = cleanHostname(h)
			if !ok { // a client sent a name we can't use; keep the lease
				p.cur.host, ok = "", true
			}
		}
	default:
		return lineIgnored
	}
	if !ok {
		p.cur.bad = true
		return lineMalformed
	}
	return lineIgnored
}

func (p *dhcpd) pending() int { return len(p.order) }

func (p *dhcpd) flush(dst []Observation, _ bool) ([]Observation, bool) {
	if p.depth > 0 {
		return dst, false // inside a block: the batch ends after it
	}
	for _, ip := range p.order {
		lb := p.last[ip]
		seen := lb.clt
		if seen.IsZero() || (!lb.starts.IsZero() && lb.starts.After(seen)) {
			seen = lb.starts
		}
		ev := ""
		if lb.state != "" && lb.state != "active" {
			ev = "dhcpd lease " + sanitize(lb.state, 32)
		}
		dst = append(dst, Observation{
			Source: SourceDHCPD, IP: lb.ip, MAC: lb.mac, Hostname: lb.host,
			Time: seen, Last: seen, Count: 1, LeaseEnd: lb.ends, Evidence: ev,
		})
	}
	p.order = p.order[:0]
	clear(p.last)
	return dst, true
}

// dhcpdTime parses "3 2024/01/10 08:00:00" (UTC), "epoch 1704873600"
// (with an optional trailing "# comment") or "never" (zero time).
func dhcpdTime(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "never" {
		return time.Time{}, true
	}
	if rest, ok := strings.CutPrefix(v, "epoch "); ok {
		return parseEpoch(bytes.TrimSpace([]byte(rest)))
	}
	_, dt, ok := strings.Cut(v, " ")
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse("2006/01/02 15:04:05", strings.TrimSpace(dt))
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}
