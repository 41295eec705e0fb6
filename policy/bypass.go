package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"
)

// Bypass is one entry of the policy's "do not decrypt" list: traffic the
// interception proxy must pass through unopened (Squid: ssl_bump splice).
// Destinations are sites interception breaks or must not see (banks,
// health, client-certificate sites, pinned applications); clients are
// machines whose traffic is not inspected (servers, a works council, a
// doctor, a data protection officer). An entry naming both covers those
// clients' traffic to those destinations only.
//
// Every entry needs a reason and an expiry: a bypass is a hole in the
// inspection and must be looked at again.
type Bypass struct {
	// Destinations are host names ("bank.example"; "*.bank.example" also
	// matches bank.example and every name under it), IP addresses or
	// CIDR subnets.
	Destinations []string `json:"destinations,omitempty"`
	// Clients are client IP addresses or CIDR subnets.
	Clients []string   `json:"clients,omitempty"`
	Reason  string     `json:"reason"`
	Expires *time.Time `json:"expires"`
}

// MaxBypassReason bounds a bypass reason (it is written into proxy
// configuration files as a comment).
const MaxBypassReason = 200

// Active reports whether the entry is in force at now.
func (b Bypass) Active(now time.Time) bool {
	return b.Expires != nil && now.Before(*b.Expires)
}

// ActiveBypasses returns the do-not-decrypt entries in force at now, in
// policy order.
func (d *Document) ActiveBypasses(now time.Time) []Bypass {
	var out []Bypass
	for _, b := range d.DoNotDecrypt {
		if b.Active(now) {
			out = append(out, b)
		}
	}
	return out
}

// validateBypasses checks and normalizes the do-not-decrypt list: host
// names lowercased without a trailing dot, subnets in canonical form.
func (d *Document) validateBypasses() []error {
	var errs fieldErrs
	bad := errs.add
	for i := range d.DoNotDecrypt {
		b := &d.DoNotDecrypt[i]
		f := fmt.Sprintf("do_not_decrypt[%d]", i)
		if len(b.Destinations)+len(b.Clients) == 0 {
			bad(f, "names nothing: give destinations, clients or both")
		}
		for j, dst := range b.Destinations {
			norm, err := NormalizeDestination(dst)
			if err != nil {
				bad(fmt.Sprintf("%s.destinations[%d]", f, j), "%v", err)
				continue
			}
			b.Destinations[j] = norm
		}
		for j, c := range b.Clients {
			norm, err := normalizeSubnet(c)
			if err != nil {
				bad(fmt.Sprintf("%s.clients[%d]", f, j), "%q is not an IP address or CIDR subnet (e.g. 10.20.0.5 or 10.20.0.0/24)", c)
				continue
			}
			b.Clients[j] = norm
		}
		switch {
		case strings.TrimSpace(b.Reason) == "":
			bad(f+".reason", "missing: say why this traffic is not decrypted")
		case len(b.Reason) > MaxBypassReason || strings.IndexFunc(b.Reason, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
			bad(f+".reason", "at most %d printable characters on one line", MaxBypassReason)
		}
		if b.Expires == nil {
			bad(f+".expires", "missing: give an RFC 3339 time when this bypass ends (review it then)")
		}
	}
	return errs
}

// NormalizeDestination checks a do-not-decrypt destination — a host name,
// "*." and a domain, an IP address or a CIDR subnet — and returns it in
// canonical form (lowercase, no trailing dot, canonical subnet).
func NormalizeDestination(s string) (string, error) {
	if norm, err := normalizeSubnet(s); err == nil {
		return norm, nil
	}
	name := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
	wild := strings.HasPrefix(name, "*.")
	host := strings.TrimPrefix(name, "*.")
	if !validHostname(host) {
		return "", fmt.Errorf("%q is not a host name, *.domain, IP address or CIDR subnet", s)
	}
	if wild && !strings.Contains(host, ".") {
		return "", fmt.Errorf("%q would bypass a whole top-level domain: name a domain under it", s)
	}
	if wild {
		return "*." + host, nil
	}
	return host, nil
}

// normalizeSubnet accepts an address (as a one-address subnet) or a CIDR
// subnet and returns the canonical subnet text.
func normalizeSubnet(s string) (string, error) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()).String(), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return "", err
	}
	return p.Masked().String(), nil
}

// validHostname accepts DNS names of letters, digits and hyphens (a
// punycode name for an internationalized one).
func validHostname(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
