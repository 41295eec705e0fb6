package evidence

import (
	"bytes"
	"net/netip"
	"strings"
	"time"
)

// squidCache finds, in Squid's cache.log, the clients whose TLS handshake
// with the interception (ssl-bump) certificate failed, and why when Squid
// says (see ClassifySquidTLS): only a certificate alert shows a device that
// does not trust the organization's CA. Squid writes this differently by
// version:
//
//	Squid 5 (captured from 5.7 on Debian 12; the detail is a pointer, the reason is not logged: KindUnknown):
//	2026/11/25 00:11:19| ERROR: failure while accepting a TLS connection on conn30 local=127.0.0.1:39128 remote=127.0.0.3:45526 FD 14 flags=1: 0x561818638a90*1
//	Squid 6 (the reason follows on an indented line):
//	2024/01/10 09:00:00 kid1| ERROR: Cannot accept a TLS connection
//	    problem: failure while accepting a TLS connection on conn7 local=10.0.0.1:3128 remote=10.0.0.5:51000 FD 13 flags=1: SQUID_TLS_ERR_ACCEPT+TLS_LIB_ERR=A000418+TLS_IO_ERR=1
//	Squid 3/4 (no client address: counted as unattributed):
//	2019/05/01 10:00:00 kid1| clientNegotiateSSL: Error negotiating SSL connection on FD 13: error:14094418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca (1/0)
//
// Timestamps in cache.log are local time (Options.Location); an indented
// continuation line takes the time of the line it continues.
type squidCache struct {
	loc     *time.Location
	modTime time.Time
	last    time.Time // time of the last timestamped line
	index   map[cacheKey]int
	aggs    []Observation
}

type cacheKey struct {
	ip       netip.Addr
	evidence string
}

func newSquidCache(o Options) *squidCache {
	return &squidCache{loc: o.Location, modTime: o.ModTime.UTC(), index: make(map[cacheKey]int)}
}

func (p *squidCache) snapshot() bool { return false }
func (p *squidCache) finish() int64  { return 0 }

var (
	acceptFailure = []byte("failure while accepting a TLS connection")
	negotiateErr  = []byte("Error negotiating SSL connection")
	remoteKey     = []byte(" remote=")
)

func (p *squidCache) line(b []byte) lineResult {
	if t, rest, ok := squidLogTime(b, p.loc); ok {
		p.last = t
		b = rest
	} else if len(b) == 0 || (b[0] != ' ' && b[0] != '\t') {
		// cache.log carries free-form startup text too; only
		// timestamped and continuation lines matter.
		return lineIgnored
	}
	i := bytes.Index(b, acceptFailure)
	if i < 0 {
		if bytes.Contains(b, negotiateErr) {
			return lineUnattributed
		}
		return lineIgnored
	}
	rest := b[i+len(acceptFailure):]
	j := bytes.Index(rest, remoteKey)
	if j < 0 {
		return lineUnattributed
	}
	hostport := rest[j+len(remoteKey):]
	if k := indexByte(hostport, ' '); k >= 0 {
		hostport = hostport[:k]
	}
	ip, ok := splitHostPort(hostport)
	if !ok {
		return lineMalformed
	}
	detail := ""
	if k := bytes.Index(rest, []byte("flags=")); k >= 0 {
		if c := bytes.Index(rest[k:], []byte(": ")); c >= 0 {
			detail = string(bytes.TrimSpace(rest[k+c+2:]))
		}
	}
	t := p.last
	if t.IsZero() {
		t = p.modTime
	}
	key := cacheKey{ip: ip, evidence: cacheEvidence(detail)}
	if n, seen := p.index[key]; seen {
		p.aggs[n].see(t)
		return lineParsed
	}
	p.index[key] = len(p.aggs)
	p.aggs = append(p.aggs, Observation{Source: SourceSquidCache, IP: ip, Time: t, Last: t, Count: 1, Evidence: key.evidence})
	return lineParsed
}

func (p *squidCache) pending() int { return len(p.aggs) }

func (p *squidCache) flush(dst []Observation, _ bool) ([]Observation, bool) {
	dst = append(dst, p.aggs...)
	p.aggs = p.aggs[:0]
	clear(p.index)
	return dst, true
}

// cacheEvidence words the evidence for a failed TLS accept from the
// detail Squid logged after "flags=N: ".
func cacheEvidence(detail string) string {
	const where = "failure while accepting a TLS connection"
	if !strings.Contains(detail, "TLS_LIB_ERR=") && !strings.Contains(detail, "SQUID_TLS_ERR") {
		// Squid 5 prints an internal pointer here, not the reason.
		return handshakeEvidence(KindUnknown, "reason not logged (Squid 5 cache.log; log %err_code/%err_detail in access.log)", where)
	}
	kind, reason := ClassifySquidTLS(detail)
	return handshakeEvidence(kind, reason, where+": "+detail)
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// splitHostPort takes the address out of "1.2.3.4:5678" or "[::1]:5678".
func splitHostPort(b []byte) (netip.Addr, bool) {
	if len(b) > 0 && b[0] == '[' {
		k := indexByte(b, ']')
		if k < 0 {
			return netip.Addr{}, false
		}
		return parseAddr(b[1:k])
	}
	k := bytes.LastIndexByte(b, ':')
	if k < 0 {
		return parseAddr(b)
	}
	return parseAddr(b[:k])
}

// squidLogTime parses the "2026/11/25 00:11:19|", "2026/11/25 00:11:19.687|"
// or "2024/01/10 09:00:00 kid1|" prefix of a cache.log line and returns the
// rest of the line after the '|'.
func squidLogTime(b []byte, loc *time.Location) (time.Time, []byte, bool) {
	if len(b) < 20 || b[4] != '/' || b[7] != '/' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, nil, false
	}
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok1 := num(b[0:4])
	mo, ok2 := num(b[5:7])
	d, ok3 := num(b[8:10])
	h, ok4 := num(b[11:13])
	mi, ok5 := num(b[14:16])
	s, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 {
		return time.Time{}, nil, false
	}
	bar := indexByte(b[19:], '|')
	if bar < 0 || bar > 16 {
		return time.Time{}, nil, false
	}
	ns := 0
	if b[19] == '.' {
		frac := b[20 : 19+bar]
		if k := indexByte(frac, ' '); k >= 0 {
			frac = frac[:k]
		}
		if v, ok := num(frac); ok && len(frac) > 0 && len(frac) <= 9 {
			ns = v
			for i := len(frac); i < 9; i++ {
				ns *= 10
			}
		}
	}
	t := time.Date(y, time.Month(mo), d, h, mi, s, ns, loc).UTC()
	return t, b[19+bar+1:], true
}
