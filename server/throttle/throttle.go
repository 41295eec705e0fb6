package throttle

import (
	"container/list"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options tune a Limiter; zero fields take the defaults.
type Options struct {
	// Free is how many failures a key may have before it is delayed
	// (default 10).
	Free int
	// Base is the first delay; each further failure doubles it up to Max
	// (defaults 1s and 15m).
	Base, Max time.Duration
	// Forget drops a key that has not failed for this long (default 1h).
	Forget time.Duration
	// Keys bounds the keys kept (default 65536, about 8 MiB at most).
	Keys int
}

// Limiter counts failures per key. It is safe for concurrent use.
type Limiter struct {
	opt  Options
	mu   sync.Mutex
	keys map[string]*list.Element
	lru  *list.List // front: most recently failed
}

type entry struct {
	key   string
	fails int
	last  time.Time // last failure
	until time.Time // attempts refused before this
}

// New returns a limiter.
func New(opt Options) *Limiter {
	if opt.Free <= 0 {
		opt.Free = 10
	}
	if opt.Base <= 0 {
		opt.Base = time.Second
	}
	if opt.Max <= 0 {
		opt.Max = 15 * time.Minute
	}
	if opt.Forget <= 0 {
		opt.Forget = time.Hour
	}
	if opt.Keys <= 0 {
		opt.Keys = 1 << 16
	}
	return &Limiter{opt: opt, keys: map[string]*list.Element{}, lru: list.New()}
}

// Wait returns how long attempts under any of keys are still refused at
// now (0: go ahead).
func (l *Limiter) Wait(now time.Time, keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		el, ok := l.keys[k]
		if !ok {
			continue
		}
		e := el.Value.(*entry)
		if now.Sub(e.last) > l.opt.Forget {
			l.remove(el)
			continue
		}
		wait = max(wait, e.until.Sub(now))
	}
	return wait
}

// Fail records a failed attempt under each of keys at now.
func (l *Limiter) Fail(now time.Time, keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		el, ok := l.keys[k]
		var e *entry
		if ok && now.Sub(el.Value.(*entry).last) <= l.opt.Forget {
			e = el.Value.(*entry)
			l.lru.MoveToFront(el)
		} else {
			if ok {
				l.remove(el)
			}
			for l.lru.Len() >= l.opt.Keys {
				l.remove(l.lru.Back())
			}
			e = &entry{key: k}
			l.keys[k] = l.lru.PushFront(e)
		}
		e.fails++
		e.last = now
		if over := e.fails - l.opt.Free; over > 0 {
			d := l.opt.Max
			if over <= 30 {
				d = min(l.opt.Base<<(over-1), l.opt.Max)
			}
			e.until = now.Add(d)
		}
	}
}

// Len is the number of keys kept.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

func (l *Limiter) remove(el *list.Element) {
	delete(l.keys, el.Value.(*entry).key)
	l.lru.Remove(el)
}

// RetryAfter is the Retry-After value for a wait: whole seconds, at least 1.
func RetryAfter(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}

// Source returns the client address of r: the TCP peer, or, when the
// peer is in trusted (reverse proxies), the address the proxy appended
// last to X-Forwarded-For. IPv6 addresses are cut to their /64.
func Source(r *http.Request, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	addr = addr.Unmap()
	if inAny(addr, trusted) {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if a, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1])); err == nil {
				addr = a.Unmap()
			}
		}
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		addr = p.Addr()
	}
	return addr
}

func inAny(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Keys names what a failed attempt counts against: the source (in
// scope, e.g. "dashboard") and, when a credential was presented, its
// first 12 bytes (a distributed guess at one credential).
func Keys(scope string, src netip.Addr, credential string) []string {
	keys := []string{scope + "|ip|" + src.String()}
	if credential != "" {
		keys = append(keys, scope+"|cred|"+credential[:min(12, len(credential))])
	}
	return keys
}
