package stores

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
)

// Status is the compliance state of one store against a set of CAs.
type Status string

// Store statuses, as reported by audit and by the agent.
const (
	StatusCompliant      Status = "compliant"
	StatusMissing        Status = "missing"         // a CA is absent
	StatusUntrusted      Status = "untrusted"       // present but not trusted for TLS server auth
	StatusBlockedPresent Status = "blocked-present" // a blocklisted root is in the store
	StatusNeedsMDM       Status = "needs-mdm"       // the platform only allows this through MDM
	StatusError          Status = "error"           // the store could not be read
	// StatusOvertrusted: one of our CAs is trusted for more than TLS
	// server authentication (Anchor.BeyondServerAuth), e.g. S/MIME or code
	// signing, so a stolen CA key could sign more than TLS.
	StatusOvertrusted Status = "overtrusted"
	// StatusDistrustedPresent: a CA the policy distrusts is still trusted
	// in the store (read-only, owned by another manager, or the distrust
	// or removal failed).
	StatusDistrustedPresent Status = "distrusted-present"
)

// Statuses returns every store status, for the collector's validation and
// filters.
func Statuses() []Status {
	return []Status{StatusCompliant, StatusMissing, StatusUntrusted, StatusBlockedPresent, StatusNeedsMDM, StatusError,
		StatusOvertrusted, StatusDistrustedPresent}
}

// Result is the audit of one store.
type Result struct {
	Info
	Status Status `json:"status"`
	Detail string `json:"detail"`
	// Missing and Untrusted list SHA-256s of the wanted CAs in that state.
	Missing   []string `json:"missing,omitempty"`
	Untrusted []string `json:"untrusted,omitempty"`
	// Overtrusted lists the SHA-256s of wanted CAs the store trusts for
	// more than TLS server authentication (and can restrict).
	Overtrusted []string `json:"overtrusted,omitempty"`
	// Purposes maps the SHA-256 of each wanted CA the store trusts to the
	// purposes it trusts it for, where the adapter reports them.
	Purposes map[string][]Purpose `json:"purposes,omitempty"`
	// Anchors is the store's content when it was read; nil on error.
	Anchors []Anchor `json:"-"`
}

// Check compares what a store holds with the wanted CAs. anchors is the
// result of List. A CA counts as present when a certificate with the same
// SHA-256 is in the store.
func Check(info Info, anchors []Anchor, want []*x509.Certificate) Result {
	r := Result{Info: info, Anchors: anchors}
	idx := make(map[string]Anchor, len(anchors))
	for _, a := range anchors {
		if prev, ok := idx[a.SHA256]; ok && prev.TrustedServerAuth {
			continue // a trusted copy wins over an untrusted duplicate
		}
		idx[a.SHA256] = a
	}
	for _, c := range want {
		fp := SHA256(c)
		a, ok := idx[fp]
		switch {
		case !ok:
			r.Missing = append(r.Missing, fp)
		case !a.TrustedServerAuth:
			r.Untrusted = append(r.Untrusted, fp)
		}
	}
	r.checkPurposes(idx, want)
	switch {
	case len(r.Missing) > 0:
		r.Status = StatusMissing
		r.Detail = describe("missing", r.Missing, want)
		if len(r.Untrusted) > 0 {
			r.Detail += "; " + describe("present but not trusted for TLS server auth", r.Untrusted, want)
		}
		r.Detail += r.overtrustNote(want, "; ")
	case len(r.Untrusted) > 0:
		r.Status = StatusUntrusted
		r.Detail = describe("present but not trusted for TLS server auth", r.Untrusted, want)
		r.Detail += r.overtrustNote(want, "; ")
	case len(r.Overtrusted) > 0:
		r.Status = StatusOvertrusted
		r.Detail = r.overtrustNote(want, "")
	case len(want) == 0:
		r.Status = StatusCompliant
		r.Detail = "none of the CAs belongs in this store"
	default:
		r.Status = StatusCompliant
		r.Detail = r.compliantDetail(len(want))
	}
	return r
}

// ErrorResult is the audit of a store that could not be read.
func ErrorResult(info Info, err error) Result {
	return Result{Info: info, Status: StatusError, Detail: err.Error()}
}

// Auditor is implemented by stores that explain their findings better
// than Check can (why a CA in the store's sources is not trusted). Audit
// prefers it; an Auditor handles its own Info.Note.
type Auditor interface {
	Audit(ctx context.Context, want []*x509.Certificate) Result
}

// Audit lists s and checks it against want. A store with a Note (one the
// adapter found but cannot handle) is an error with that note. Stores that
// implement Auditor audit themselves.
func Audit(ctx context.Context, s Store, want []*x509.Certificate) Result {
	want = Select(s, want)
	if a, ok := s.(Auditor); ok {
		return a.Audit(ctx, want)
	}
	info := s.Info()
	if info.Note != "" {
		return Result{Info: info, Status: StatusError, Detail: info.Note}
	}
	anchors, err := s.List(ctx)
	if err != nil {
		return ErrorResult(info, err)
	}
	return Check(info, anchors, want)
}

func describe(what string, fps []string, want []*x509.Certificate) string {
	names := make([]string, 0, len(fps))
	for _, fp := range fps {
		for _, c := range want {
			if SHA256(c) == fp {
				names = append(names, fmt.Sprintf("%q (sha256 %s…)", c.Subject.CommonName, fp[:16]))
				break
			}
		}
	}
	return what + ": " + strings.Join(names, ", ")
}
