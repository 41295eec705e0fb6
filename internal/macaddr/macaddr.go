package macaddr

import "strings"

// Normalize returns s in canonical form (lowercase colon-separated pairs)
// and true, or "" and false when s is not an accepted MAC address.
func Normalize(s string) (string, bool) {
	s = strings.TrimSpace(s)
	var hex string
	switch len(s) {
	case 17:
		sep := s[2]
		if sep != ':' && sep != '-' {
			return "", false
		}
		var b strings.Builder
		for i := 0; i < 17; i++ {
			if i%3 == 2 {
				if s[i] != sep {
					return "", false
				}
				continue
			}
			b.WriteByte(s[i])
		}
		hex = b.String()
	case 12:
		hex = s
	case 14:
		if s[4] != '.' || s[9] != '.' {
			return "", false
		}
		hex = s[0:4] + s[5:9] + s[10:14]
	default:
		return "", false
	}
	out := make([]byte, 0, 17)
	for i := 0; i < len(hex); i++ {
		c := hex[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			c += 'a' - 'A'
		default:
			return "", false
		}
		if i > 0 && i%2 == 0 {
			out = append(out, ':')
		}
		out = append(out, c)
	}
	return string(out), true
}
