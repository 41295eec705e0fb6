package evidence

import (
	"bytes"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/macaddr"
)

// dnsmasq parses dnsmasq.leases, rewritten whole on every change:
//
//	1704877200 00:11:22:33:44:55 192.168.1.50 laptop-2 01:00:11:22:33:44:55
//	duid 00:01:00:01:2b:2a:2a:2a:52:54:00:00:00:01
//	1704877200 1234567 2001:db8::50 laptop-2 00:01:00:01:...
//
// Fields: expiry (epoch, 0 = infinite), MAC (IAID for DHCPv6), address,
// hostname ("*" = none), client id. The file does not say when a lease was
// granted, so a lease counts as seen when the file was written
// (Options.ModTime), or at its expiry if that came first.
type dnsmasq struct {
	modTime time.Time
	aggs    []Observation
	index   map[leaseKey]int
	f       [5][]byte
}

func newDnsmasq(o Options) *dnsmasq {
	return &dnsmasq{modTime: o.ModTime.UTC().Truncate(time.Second), index: make(map[leaseKey]int)}
}

func (p *dnsmasq) snapshot() bool { return true }
func (p *dnsmasq) finish() int64  { return 0 }

func (p *dnsmasq) line(b []byte) lineResult {
	n := fields(b, p.f[:])
	if n == 0 {
		return lineIgnored
	}
	if bytes.Equal(p.f[0], []byte("duid")) {
		return lineIgnored
	}
	if n < 4 {
		return lineMalformed
	}
	exp, ok := parseEpoch(p.f[0])
	if !ok {
		return lineMalformed
	}
	ip, ok := parseAddr(p.f[2])
	if !ok {
		return lineMalformed
	}
	var end time.Time
	seen := p.modTime
	if exp.Unix() != 0 {
		end = exp
		if exp.Before(seen) {
			seen = exp
		}
	}
	mac, _ := macaddr.Normalize(string(p.f[1]))
	host := ""
	if h := string(p.f[3]); h != "*" {
		host, _ = cleanHostname(h)
	}
	key := leaseKey{ip: ip, mac: mac, host: host}
	if i, dup := p.index[key]; dup {
		p.aggs[i].see(seen)
		return lineParsed
	}
	p.index[key] = len(p.aggs)
	p.aggs = append(p.aggs, Observation{Source: SourceDnsmasq, IP: ip, MAC: mac, Hostname: host,
		Time: seen, Last: seen, Count: 1, LeaseEnd: end})
	return lineParsed
}

func (p *dnsmasq) pending() int { return len(p.aggs) }

func (p *dnsmasq) flush(dst []Observation, _ bool) ([]Observation, bool) {
	dst = append(dst, p.aggs...)
	p.aggs = p.aggs[:0]
	clear(p.index)
	return dst, true
}
