package evidence

import (
	"bytes"
	"net/netip"
	"time"
)

// squidAccess parses Squid's native access.log format:
//
//	time elapsed client code/status bytes method URL user hier/peer type
//	1795565466.935 0 127.0.0.2 TCP_MISS/200 5431 GET https://localhost:39443/ - HIER_DIRECT/127.0.0.1 text/html
//
// The client is field 3 (an address, or a name with log_fqdn on). Lines are
// aggregated per client until the next flush. This is the hot path of an
// ingest (tens of millions of lines): it does not allocate per line and
// keeps times as integers until the flush.
type squidAccess struct {
	byIP   map[netip.Addr]int // index into aggs
	byName map[string]int
	aggs   []accessAgg
}

type accessAgg struct {
	ip          netip.Addr
	name        string
	first, last int64 // Unix nanoseconds
	count       int64
}

func newSquidAccess(Options) *squidAccess {
	return &squidAccess{byIP: make(map[netip.Addr]int), byName: make(map[string]int)}
}

func (p *squidAccess) snapshot() bool { return false }
func (p *squidAccess) finish() int64  { return 0 }

// nextField returns the bounds of the space-separated field at or after i.
func nextField(b []byte, i int) (start, end int) {
	for i < len(b) && b[i] == ' ' {
		i++
	}
	if i == len(b) {
		return i, i
	}
	j := bytes.IndexByte(b[i:], ' ')
	if j < 0 {
		return i, len(b)
	}
	return i, i + j
}

func (p *squidAccess) line(b []byte) lineResult {
	if len(b) == 0 || b[0] == '#' {
		return lineIgnored
	}
	var f [4][]byte
	end := 0
	for k := range f {
		s, e := nextField(b, end)
		if s == e {
			return lineMalformed
		}
		f[k], end = b[s:e], e
	}
	// Six more fields: bytes method URL user hier/peer type.
	for k := 0; k < 6; k++ {
		s, e := nextField(b, end)
		if s == e {
			return lineMalformed
		}
		end = e
	}
	ns, ok := parseEpochNanos(f[0])
	if !ok || indexByte(f[3], '/') < 1 {
		return lineMalformed
	}
	if ip, ok := parseAddr(f[2]); ok {
		if i, seen := p.byIP[ip]; seen {
			p.aggs[i].see(ns)
			return lineParsed
		}
		p.byIP[ip] = len(p.aggs)
		p.aggs = append(p.aggs, accessAgg{ip: ip, first: ns, last: ns, count: 1})
		return lineParsed
	}
	if i, seen := p.byName[string(f[2])]; seen {
		p.aggs[i].see(ns)
		return lineParsed
	}
	name, ok := cleanHostname(string(f[2]))
	if !ok || name == "-" {
		return lineMalformed
	}
	p.byName[string(f[2])] = len(p.aggs)
	p.aggs = append(p.aggs, accessAgg{name: name, first: ns, last: ns, count: 1})
	return lineParsed
}

func (a *accessAgg) see(ns int64) {
	if ns < a.first {
		a.first = ns
	}
	if ns > a.last {
		a.last = ns
	}
	a.count++
}

func (p *squidAccess) flush(dst []Observation, _ bool) ([]Observation, bool) {
	for _, a := range p.aggs {
		dst = append(dst, Observation{Source: SourceSquidAccess, IP: a.ip, Hostname: a.name,
			Time: time.Unix(0, a.first).UTC(), Last: time.Unix(0, a.last).UTC(), Count: a.count})
	}
	p.aggs = p.aggs[:0]
	clear(p.byIP)
	clear(p.byName)
	return dst, true
}

// see widens o's interval to include t and counts one more sighting.
func (o *Observation) see(t time.Time) {
	if t.Before(o.Time) {
		o.Time = t
	}
	if t.After(o.Last) {
		o.Last = t
	}
	o.Count++
}
