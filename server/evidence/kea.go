package evidence

import (
	"bytes"
	"net/netip"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/macaddr"
)

// kea parses Kea's memfile lease CSV (kea-leases4.csv or kea-leases6.csv),
// finding columns by the header line:
//
//	address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context
//	192.168.1.10,00:11:22:33:44:55,01:00:11:22:33:44:55,3600,1704877200,1,0,0,laptop-3,0,
//
// A lease was granted at expire - valid_lifetime and ends at expire.
// Declined leases (state 1) are not a device and are ignored.
type kea struct {
	col   map[string]int
	aggs  []Observation
	index map[leaseKey]int
	f     [32][]byte
}

type leaseKey struct {
	ip        netip.Addr
	mac, host string
}

func newKea(o Options) *kea {
	p := &kea{index: make(map[leaseKey]int)}
	if len(o.Header) > 0 {
		p.line(o.Header)
	}
	return p
}

func (p *kea) snapshot() bool { return true }
func (p *kea) finish() int64  { return 0 }

func (p *kea) line(b []byte) lineResult {
	if len(bytes.TrimSpace(b)) == 0 {
		return lineIgnored
	}
	n := splitComma(b, p.f[:])
	if bytes.Equal(p.f[0], []byte("address")) {
		p.col = make(map[string]int, n)
		for i := 0; i < n; i++ {
			p.col[string(p.f[i])] = i
		}
		if _, ok := p.col["expire"]; !ok {
			p.col = nil
			return lineMalformed
		}
		return lineIgnored
	}
	if p.col == nil {
		return lineMalformed // data before any header
	}
	get := func(name string) []byte {
		if i, ok := p.col[name]; ok && i < n {
			return p.f[i]
		}
		return nil
	}
	ip, ok := parseAddr(get("address"))
	if !ok {
		return lineMalformed
	}
	expire, ok := parseEpoch(get("expire"))
	if !ok {
		return lineMalformed
	}
	if st := get("state"); len(st) > 0 && string(st) == "1" {
		return lineIgnored // declined: an address conflict, not a device
	}
	start := expire
	if vl, ok := parseEpoch(get("valid_lifetime")); ok && vl.Unix() < 1<<31 {
		start = time.Unix(expire.Unix()-vl.Unix(), 0).UTC()
	}
	mac, _ := macaddr.Normalize(string(get("hwaddr")))
	host, _ := cleanHostname(strings.ReplaceAll(string(get("hostname")), "&#x2c", ","))
	key := leaseKey{ip: ip, mac: mac, host: host}
	if i, seen := p.index[key]; seen {
		o := &p.aggs[i]
		o.see(start)
		if expire.After(o.LeaseEnd) {
			o.LeaseEnd = expire
		}
		return lineParsed
	}
	p.index[key] = len(p.aggs)
	p.aggs = append(p.aggs, Observation{Source: SourceKea, IP: ip, MAC: mac, Hostname: host,
		Time: start, Last: start, Count: 1, LeaseEnd: expire})
	return lineParsed
}

func (p *kea) pending() int { return len(p.aggs) }

func (p *kea) flush(dst []Observation, _ bool) ([]Observation, bool) {
	dst = append(dst, p.aggs...)
	p.aggs = p.aggs[:0]
	clear(p.index)
	return dst, true
}

// splitComma splits b at commas into at most len(dst) fields (the last
// takes the rest) and returns the count. It does not allocate.
func splitComma(b []byte, dst [][]byte) int {
	n := 0
	for n < len(dst)-1 {
		i := indexByte(b, ',')
		if i < 0 {
			break
		}
		dst[n] = bytes.TrimSpace(b[:i])
		b = b[i+1:]
		n++
	}
	dst[n] = bytes.TrimSpace(b)
	return n + 1
}
