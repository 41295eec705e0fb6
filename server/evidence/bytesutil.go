package evidence

import (
	"net/netip"
	"strings"
	"time"
)

// fields splits b at runs of spaces and tabs into at most len(dst) fields
// and returns how many it found; the last field holds the rest of the line
// when there are more. It does not allocate.
func fields(b []byte, dst [][]byte) int {
	n := 0
	i := 0
	for n < len(dst) {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
			i++
		}
		if i == len(b) {
			break
		}
		start := i
		if n == len(dst)-1 {
			end := len(b)
			for end > start && (b[end-1] == ' ' || b[end-1] == '\t') {
				end--
			}
			dst[n] = b[start:end]
			return n + 1
		}
		for i < len(b) && b[i] != ' ' && b[i] != '\t' {
			i++
		}
		dst[n] = b[start:i]
		n++
	}
	return n
}

// parseIPv4 parses dotted-quad IPv4 from bytes without allocating.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var a [4]byte
	part, digits, val := 0, 0, 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			if digits > 0 && val == 0 { // leading zero
				return netip.Addr{}, false
			}
			val = val*10 + int(c-'0')
			digits++
			if digits > 3 || val > 255 {
				return netip.Addr{}, false
			}
		case c == '.':
			if digits == 0 || part == 3 {
				return netip.Addr{}, false
			}
			a[part] = byte(val)
			part++
			digits, val = 0, 0
		default:
			return netip.Addr{}, false
		}
	}
	if part != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	a[3] = byte(val)
	return netip.AddrFrom4(a), true
}

// parseAddr parses an IPv4 or IPv6 address (no zone), unmapping
// IPv4-mapped IPv6. The IPv4 path does not allocate.
func parseAddr(b []byte) (netip.Addr, bool) {
	if a, ok := parseIPv4(b); ok {
		return a, true
	}
	if len(b) < 2 || len(b) > 45 || indexByte(b, ':') < 0 || indexByte(b, '%') >= 0 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(string(b))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func indexByte(b []byte, c byte) int {
	for i := range b {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// parseEpoch parses "1795565445.513" (seconds, optional fraction) without
// allocating. It accepts 1970 through 5138 and nothing else.
func parseEpoch(b []byte) (time.Time, bool) {
	ns, ok := parseEpochNanos(b)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, ns).UTC(), true
}

// parseEpochNanos is parseEpoch as Unix nanoseconds (the years it accepts
// fit an int64 of nanoseconds up to 2262; later ones are refused).
func parseEpochNanos(b []byte) (int64, bool) {
	var sec, frac, scale int64 = 0, 0, 1
	i := 0
	for ; i < len(b) && b[i] != '.'; i++ {
		c := b[i]
		if c < '0' || c > '9' || i >= 11 {
			return 0, false
		}
		sec = sec*10 + int64(c-'0')
	}
	if i == 0 {
		return 0, false
	}
	if i < len(b) { // fraction
		i++
		if i == len(b) {
			return 0, false
		}
		for ; i < len(b); i++ {
			c := b[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			if scale < 1e9 {
				frac = frac*10 + int64(c-'0')
				scale *= 10
			}
		}
	}
	if sec > 9_000_000_000 { // 2255: the last whole year in int64 nanoseconds
		return 0, false
	}
	return sec*1e9 + frac*(1e9/scale), true
}

// cleanHostname lowercases a hostname and checks it is a plausible DNS
// name (letters, digits, '-', '_', '.'; at most 253 bytes).
func cleanHostname(s string) (string, bool) {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	if s == "" || len(s) > 253 || strings.Trim(s, "0123456789.") == "" {
		return "", false // empty, too long, or a mangled IPv4 address
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		case c >= 'A' && c <= 'Z':
		default:
			return "", false
		}
	}
	return strings.ToLower(s), true
}

// sanitize bounds a free-text string taken from input and strips control
// characters, so evidence text is safe to store and display.
func sanitize(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			break
		}
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			r = ' '
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}
