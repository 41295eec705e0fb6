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
//
// A log written with the anchorwatch logformat (docs/proxy.md) carries
// %err_code/%err_detail as field 11; a failed TLS accept or a client gone
// before its handshake finished then becomes evidence on that client, with
// its kind (see ClassifySquidTLS):
//
//	1796291144.330 23 127.0.0.3 NONE_NONE/200 0 CONNECT good.example:443 - HIER_DIRECT/192.0.2.1 - ERR_SECURE_ACCEPT_FAIL/SQUID_TLS_ERR_ACCEPT+TLS_LIB_ERR=A000418+TLS_IO_ERR=1 bump …
type squidAccess struct {
	byIP   map[netip.Addr]int // index into aggs
	byName map[string]int
	aggs   []accessAgg
	// Handshake failures: evidence text by err field, and observations.
	evText  map[string]string
	evIndex map[accessEvKey]int
	evObs   []Observation
}

type accessAgg struct {
	ip          netip.Addr
	name        string
	first, last int64 // Unix nanoseconds
	count       int64
}

type accessEvKey struct {
	ip       netip.Addr
	name     string
	evidence string
}

func newSquidAccess(Options) *squidAccess {
	return &squidAccess{byIP: make(map[netip.Addr]int), byName: make(map[string]int),
		evText: make(map[string]string), evIndex: make(map[accessEvKey]int)}
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

// Field indexes of the native format.
const (
	accTime   = 0
	accClient = 2
	accCode   = 3
	accBytes  = 4
	accMethod = 5
)

func (p *squidAccess) line(b []byte) lineResult {
	if len(b) == 0 || b[0] == '#' {
		return lineIgnored
	}
	var f [10][]byte
	end := 0
	for k := range f {
		s, e := nextField(b, end)
		if s == e {
			return lineMalformed
		}
		f[k], end = b[s:e], e
	}
	ns, ok := parseEpochNanos(f[accTime])
	if !ok || indexByte(f[accCode], '/') < 1 {
		return lineMalformed
	}
	var ev string
	if s, e := nextField(b, end); s < e && bytes.HasPrefix(b[s:e], []byte("ERR_")) {
		ev = p.handshake(f[accMethod], f[accBytes], b[s:e])
	}
	ip, isIP := parseAddr(f[accClient])
	name := ""
	if !isIP {
		if i, seen := p.byName[string(f[accClient])]; seen && ev == "" {
			p.aggs[i].see(ns)
			return lineParsed
		}
		var ok bool
		if name, ok = cleanHostname(string(f[accClient])); !ok || name == "-" {
			return lineMalformed
		}
	}
	if ev != "" {
		p.seeHandshake(ip, name, ev, ns)
		return lineParsed
	}
	if isIP {
		if i, seen := p.byIP[ip]; seen {
			p.aggs[i].see(ns)
			return lineParsed
		}
		p.byIP[ip] = len(p.aggs)
		p.aggs = append(p.aggs, accessAgg{ip: ip, first: ns, last: ns, count: 1})
		return lineParsed
	}
	p.byName[string(f[accClient])] = len(p.aggs)
	p.aggs = append(p.aggs, accessAgg{name: name, first: ns, last: ns, count: 1})
	return lineParsed
}

// handshake returns the evidence text of a line whose err field (field
// 11, "%err_code/%err_detail") records a failed TLS accept, or a CONNECT
// whose client went away before sending anything; "" otherwise.
func (p *squidAccess) handshake(method, size, errField []byte) string {
	if t, ok := p.evText[string(errField)]; ok {
		return t
	}
	code, detail, _ := bytes.Cut(errField, []byte("/"))
	text := ""
	switch string(code) {
	case "ERR_SECURE_ACCEPT_FAIL":
		kind, reason := ClassifySquidTLS(string(detail))
		text = handshakeEvidence(kind, reason, string(errField))
	case "ERR_CLIENT_GONE", "ERR_READ_TIMEOUT", "ERR_LIFETIME_EXP", "ERR_REQUEST_START_TIMEOUT":
		if string(method) != "CONNECT" || string(size) != "0" {
			return "" // a tunnel that carried data, or an ordinary request
		}
		kind, reason := ClassifySquidTLS(string(code))
		text = handshakeEvidence(kind, reason, string(errField))
	default:
		return ""
	}
	if len(p.evText) < 1024 { // bounded: err fields are few, but input is untrusted
		p.evText[string(errField)] = text
	}
	return text
}

func (p *squidAccess) seeHandshake(ip netip.Addr, name, ev string, ns int64) {
	t := time.Unix(0, ns).UTC()
	k := accessEvKey{ip: ip, name: name, evidence: ev}
	if i, seen := p.evIndex[k]; seen {
		p.evObs[i].see(t)
		return
	}
	p.evIndex[k] = len(p.evObs)
	p.evObs = append(p.evObs, Observation{Source: SourceSquidAccess, IP: ip, Hostname: name, Time: t, Last: t, Count: 1, Evidence: ev})
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

func (p *squidAccess) pending() int { return len(p.aggs) + len(p.evObs) }

func (p *squidAccess) flush(dst []Observation, _ bool) ([]Observation, bool) {
	for _, a := range p.aggs {
		dst = append(dst, Observation{Source: SourceSquidAccess, IP: a.ip, Hostname: a.name,
			Time: time.Unix(0, a.first).UTC(), Last: time.Unix(0, a.last).UTC(), Count: a.count})
	}
	dst = append(dst, p.evObs...)
	p.aggs = p.aggs[:0]
	p.evObs = p.evObs[:0]
	clear(p.byIP)
	clear(p.byName)
	clear(p.evIndex)
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
