package stores

import (
	"crypto/x509"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// purposeNames maps what a user may type (--allow-purposes) to a Purpose.
var purposeNames = map[string]Purpose{
	"serverauth": PurposeServerAuth, "server-auth": PurposeServerAuth, "tls": PurposeServerAuth,
	"clientauth": PurposeClientAuth, "client-auth": PurposeClientAuth,
	"codesigning": PurposeCodeSigning, "code-signing": PurposeCodeSigning, "codesign": PurposeCodeSigning,
	"emailprotection": PurposeEmailProtection, "email": PurposeEmailProtection, "smime": PurposeEmailProtection, "s/mime": PurposeEmailProtection,
	"timestamping": PurposeTimeStamping, "time-stamping": PurposeTimeStamping,
	"any": PurposeAny, "all": PurposeAny,
}

// Purposes returns every purpose name, for help texts.
func Purposes() []Purpose {
	return []Purpose{PurposeServerAuth, PurposeClientAuth, PurposeCodeSigning, PurposeEmailProtection, PurposeTimeStamping, PurposeAny}
}

// ParsePurposes parses a comma-separated list of purposes
// ("emailProtection,codeSigning"; case does not matter, "smime",
// "codesign" and "email" are accepted too).
func ParsePurposes(list string) ([]Purpose, error) {
	var out []Purpose
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, ok := purposeNames[strings.ToLower(f)]
		if !ok {
			names := make([]string, 0, len(Purposes()))
			for _, p := range Purposes() {
				names = append(names, string(p))
			}
			return nil, fmt.Errorf("unknown purpose %q: use %s", f, strings.Join(names, ", "))
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// SortPurposes sorts ps in the order of Purposes() and drops duplicates.
func SortPurposes(ps []Purpose) []Purpose {
	rank := map[Purpose]int{}
	for i, p := range Purposes() {
		rank[p] = i
	}
	out := slices.Clone(ps)
	sort.SliceStable(out, func(i, j int) bool { return rank[out[i]] < rank[out[j]] })
	return slices.Compact(out)
}

// checkPurposes fills r.Purposes and r.Overtrusted for the wanted CAs the
// store trusts. A store that cannot restrict purposes (Info.CannotRestrict)
// is never overtrusted.
func (r *Result) checkPurposes(idx map[string]Anchor, want []*x509.Certificate) {
	for _, c := range want {
		fp := SHA256(c)
		a, ok := idx[fp]
		if !ok || !a.TrustedServerAuth || a.Purposes == nil {
			continue
		}
		if r.Purposes == nil {
			r.Purposes = map[string][]Purpose{}
		}
		r.Purposes[fp] = SortPurposes(a.Purposes)
		if !r.CannotRestrict && len(a.BeyondServerAuth()) > 0 && !slices.Contains(r.Overtrusted, fp) {
			r.Overtrusted = append(r.Overtrusted, fp)
		}
	}
}

// overtrustNote describes r.Overtrusted ("" when empty), after sep.
func (r *Result) overtrustNote(want []*x509.Certificate, sep string) string {
	if len(r.Overtrusted) == 0 {
		return ""
	}
	var names []string
	for _, fp := range r.Overtrusted {
		for _, c := range want {
			if SHA256(c) == fp {
				names = append(names, fmt.Sprintf("%q (sha256 %s…) for %s", c.Subject.CommonName, fp[:16], JoinPurposes(r.Purposes[fp])))
				break
			}
		}
	}
	return sep + "trusted beyond TLS server auth: " + strings.Join(names, ", ") +
		" (a stolen CA key could sign more than TLS; install again to narrow it, or allow it with --allow-purposes)"
}

// compliantDetail is the detail of a compliant store holding n CAs.
func (r *Result) compliantDetail(n int) string {
	d := fmt.Sprintf("%d of %d CA(s) present and trusted", n, n)
	if !r.CannotRestrict {
		return d
	}
	what := "every purpose"
	for _, ps := range r.Purposes {
		if !slices.Contains(ps, PurposeAny) {
			what = JoinPurposes(ps)
		}
		break
	}
	return d + " (this store cannot restrict purposes: trusted for " + what + ")"
}

// JoinPurposes renders purposes for people: "serverAuth, emailProtection".
func JoinPurposes(ps []Purpose) string {
	if len(ps) == 0 {
		return "nothing"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}

// AllowPurposes returns r with every overtrusted CA whose extra purposes
// are all in allow taken off r.Overtrusted (PurposeAny in allow allows
// everything). A store left with none is compliant again. It is how an
// administrator who really wants the CA trusted for more (S/MIME, say)
// keeps audit quiet about it.
func AllowPurposes(r Result, allow []Purpose) Result {
	if len(r.Overtrusted) == 0 || len(allow) == 0 {
		return r
	}
	var keep []string
	for _, fp := range r.Overtrusted {
		if !allowed(r.Purposes[fp], allow) {
			keep = append(keep, fp)
		}
	}
	n := len(r.Overtrusted) - len(keep)
	r.Overtrusted = keep
	if r.Status != StatusOvertrusted {
		return r
	}
	if len(keep) == 0 {
		r.Status = StatusCompliant
		r.Detail = fmt.Sprintf("%s present and trusted, %d for purposes beyond TLS server auth that --allow-purposes allows", plural(len(r.Purposes), "CA", "CAs"), n)
		return r
	}
	r.Detail = fmt.Sprintf("trusted beyond TLS server auth: %s (%d more allowed by --allow-purposes)", strings.Join(shortFPs(keep), ", "), n)
	return r
}

func allowed(ps, allow []Purpose) bool {
	if slices.Contains(allow, PurposeAny) {
		return true
	}
	for _, p := range ps {
		if p != PurposeServerAuth && !slices.Contains(allow, p) {
			return false
		}
	}
	return true
}

func shortFPs(fps []string) []string {
	out := make([]string, len(fps))
	for i, fp := range fps {
		out[i] = "sha256 " + fp[:16] + "…"
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
