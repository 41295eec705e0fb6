package policy

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/stores"
)

// DistrustEntry is a CA every managed host must actively distrust: a
// compromised interception CA, a retired one, a public CA the
// organization no longer accepts. Name it by certificate (pem, best), by
// the SHA-256 of its DER, and/or by its key (spki_sha256: catches every
// certificate issued for a leaked key, a re-issue included).
//
// What a store needs: Windows (Disallowed), NSS (explicit distrust),
// p11-kit (blocklist) and macOS (deny trust settings) record the
// certificate itself, so only an entry with pem can be refused in
// advance, before any copy reaches the host. An entry named by hash only
// is enforced on the copies an agent finds (distrusted where the store
// can, removed elsewhere). Document.Warnings says so for each such entry.
type DistrustEntry struct {
	PEM        string `json:"pem,omitempty"`
	SHA256     string `json:"sha256,omitempty"`
	SPKISHA256 string `json:"spki_sha256,omitempty"`
	Reason     string `json:"reason"`
	// After, when set, starts the distrust at that time: the end of a
	// planned rotation's overlap, when the anchor it retires (with a
	// remove_after no later) stops being trusted. Absent: at once.
	After *time.Time `json:"after,omitempty"`

	// Cert is the parsed certificate of PEM, filled by Parse.
	Cert *x509.Certificate `json:"-"`
}

// DistrustTarget is one certificate or key an agent distrusts: a
// distrust entry in force, or a blocklist entry when the policy enforces
// the blocklist.
type DistrustTarget struct {
	// SHA256 is the certificate's fingerprint; empty when only the key is
	// named.
	SHA256 string
	// SPKI is the key's SHA-256; empty when only the certificate is named.
	SPKI string
	// Cert is the certificate, nil when the policy names it by hash only.
	Cert *x509.Certificate
	// Reason is the policy's reason; Source where the target comes from
	// ("distrust[0]", "blocklist: Superfish, Inc.").
	Reason, Source string
}

// Matches reports whether a certificate with the given fingerprint and
// SPKI hash is the target.
func (t DistrustTarget) Matches(sha256, spki string) bool {
	return (t.SHA256 != "" && t.SHA256 == sha256) || (t.SPKI != "" && t.SPKI == spki)
}

// MatchesCert reports whether c is the target (by certificate or by key).
func (t DistrustTarget) MatchesCert(c *x509.Certificate) bool {
	return c != nil && t.Matches(stores.SHA256(c), stores.SPKIHash(c))
}

// DistrustTargets returns what agents distrust at now: every distrust
// entry whose time has come, and, when EnforceBlocklist is set, every
// root of the built-in blocklist and of the policy's own.
func (d *Document) DistrustTargets(now time.Time) []DistrustTarget {
	var out []DistrustTarget
	for i, e := range d.Distrust {
		if e.After != nil && now.Before(*e.After) {
			continue
		}
		t := DistrustTarget{SHA256: e.SHA256, SPKI: e.SPKISHA256, Cert: e.Cert, Reason: e.Reason, Source: fmt.Sprintf("distrust[%d]", i)}
		if e.Cert != nil {
			t.SHA256 = stores.SHA256(e.Cert)
		}
		out = append(out, t)
	}
	if d.EnforceBlocklist {
		for _, b := range append(BuiltinBlockedRoots(), d.BlockedRoots()...) {
			out = append(out, DistrustTarget{SHA256: b.SHA256, SPKI: b.SPKI, Reason: b.Reason, Source: "blocklist: " + b.Name})
		}
	}
	return out
}

// distrusted reports whether c is distrusted at now.
func (d *Document) distrusted(c *x509.Certificate, now time.Time) bool {
	for _, t := range d.DistrustTargets(now) {
		if t.MatchesCert(c) {
			return true
		}
	}
	return false
}

// Warnings returns what a valid policy does less well than its author may
// think, one line each naming the field: `policy sign` and `policy
// verify` print them.
func (d *Document) Warnings() []string {
	var out []string
	for i, e := range d.Distrust {
		if e.Cert == nil {
			out = append(out, fmt.Sprintf("distrust[%d]: named by hash only: Windows (Disallowed), NSS (explicit distrust), "+
				"p11-kit (blocklist) and macOS need the certificate to refuse it before a copy reaches the host; agents "+
				"distrust or remove the copies they find. Give pem when you have the certificate.", i))
		}
	}
	if d.EnforceBlocklist {
		out = append(out, "enforce_blocklist: blocklist roots are named by hash: agents distrust or remove the copies they find, "+
			"but cannot refuse them in advance")
	}
	return out
}

// validateDistrust checks the distrust section against the anchors: a
// certificate or key is never trusted and distrusted at the same time.
func (d *Document) validateDistrust() []error {
	var errs fieldErrs
	bad := errs.add
	seen := map[string]int{}
	for i := range d.Distrust {
		e := &d.Distrust[i]
		f := fmt.Sprintf("distrust[%d]", i)
		e.Cert = nil
		if strings.TrimSpace(e.PEM) == "" && e.SHA256 == "" && e.SPKISHA256 == "" {
			bad(f, "names no CA: give pem (the certificate: Windows, NSS, p11-kit and macOS need it to refuse the CA in advance), sha256 or spki_sha256")
			continue
		}
		if strings.TrimSpace(e.Reason) == "" {
			bad(f+".reason", "missing: say why the CA is distrusted (e.g. \"private key leaked 2030-01-02\")")
		}
		if e.PEM != "" {
			if c, err := parseOneCA(e.PEM, "entry"); err != nil {
				bad(f+".pem", "%v", err)
			} else {
				e.Cert = c
			}
		}
		if !normalizeInPlace(&e.SHA256) {
			bad(f+".sha256", "%q is not a SHA-256 fingerprint (64 hex digits)", e.SHA256)
		}
		if !normalizeInPlace(&e.SPKISHA256) {
			bad(f+".spki_sha256", "%q is not a SHA-256 fingerprint (64 hex digits)", e.SPKISHA256)
		}
		if e.Cert != nil {
			if fp := stores.SHA256(e.Cert); e.SHA256 != "" && e.SHA256 != fp {
				bad(f+".sha256", "is not the fingerprint of pem (%s); give one or the other, or fix it", fp)
			}
			if e.SPKISHA256 != "" && e.SPKISHA256 != stores.SPKIHash(e.Cert) {
				bad(f+".spki_sha256", "is not the key of pem (%s)", stores.SPKIHash(e.Cert))
			}
		}
		fp := e.SHA256
		if e.Cert != nil {
			fp = stores.SHA256(e.Cert)
		}
		if fp != "" {
			if j, dup := seen[fp]; dup {
				bad(f, "same certificate as distrust[%d]", j)
			}
			seen[fp] = i
		}
		errs = append(errs, d.distrustVsAnchors(i, fp)...)
	}
	return errs
}

// distrustVsAnchors checks distrust entry i (certificate fingerprint fp,
// possibly empty) against every anchor: an anchor it names may only be
// distrusted once the anchor's life has ended (remove_after, or a remove
// entry's after, no later than the distrust's after).
func (d *Document) distrustVsAnchors(i int, fp string) []error {
	e := d.Distrust[i]
	f := fmt.Sprintf("distrust[%d]", i)
	var errs []error
	for j, a := range d.Anchors {
		if a.Cert == nil {
			continue
		}
		byCert := fp != "" && stores.SHA256(a.Cert) == fp
		byKey := e.SPKISHA256 != "" && stores.SPKIHash(a.Cert) == e.SPKISHA256
		if !byCert && !byKey {
			continue
		}
		end := d.anchorEnd(j)
		if e.After != nil && end != nil && !end.After(*e.After) {
			continue // trusted until end, distrusted from e.After: a planned rotation
		}
		what := fmt.Sprintf("distrusts anchors[%d] (%q)", j, a.Cert.Subject.CommonName)
		if byKey && !byCert {
			what = fmt.Sprintf("distrusts the key of anchors[%d] (%q): every certificate of a distrusted key is distrusted; make the new CA with a new key", j, a.Cert.Subject.CommonName)
		}
		errs = append(errs, &FieldError{Field: f, Err: fmt.Errorf("%s, which the policy installs: a CA cannot be both trusted and distrusted. "+
			"Emergency: take it out of anchors. Planned rotation: give anchors[%d].remove_after and %s.after no earlier", what, j, f)})
	}
	return errs
}

// anchorEnd returns when anchor j stops being trusted: its remove_after,
// or the earliest after of a remove entry for it; nil when never.
func (d *Document) anchorEnd(j int) *time.Time {
	end := d.Anchors[j].RemoveAfter
	fp := stores.SHA256(d.Anchors[j].Cert)
	for _, r := range d.Remove {
		if r.SHA256 != fp {
			continue
		}
		if r.After == nil {
			return nil // refused elsewhere: removed and installed at once
		}
		if end == nil || r.After.Before(*end) {
			end = r.After
		}
	}
	return end
}

// normalizeInPlace normalizes a fingerprint in place; an empty one is
// fine.
func normalizeInPlace(s *string) bool {
	if *s == "" {
		return true
	}
	fp, ok := stores.NormalizeSHA256(*s)
	if ok {
		*s = fp
	}
	return ok
}
