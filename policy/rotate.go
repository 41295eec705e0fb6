package policy

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/anchorwatch/anchorwatch/stores"
)

// RotateOptions describe the replacement of one CA by another.
type RotateOptions struct {
	// From is the CA being replaced, To its successor.
	From, To *x509.Certificate
	// Overlap, when set, is a planned rotation: From stays trusted until
	// then (anchors[].remove_after) and is distrusted from then on, by
	// certificate. Zero is the emergency (a leaked key): From is
	// distrusted at once, by certificate and by key.
	Overlap time.Time
	// Reason is the distrust entry's reason; empty gives one naming To.
	Reason string
	// Serial is the new policy's serial; zero means the current one + 1
	// (required when there is no current policy).
	Serial int64
	// Now is the time Overlap is checked against; zero means time.Now().
	Now time.Time
}

// Rotate returns a policy document (indented JSON, ready to sign) in
// which To is trusted and From distrusted: current with From's anchor
// replaced by To (same stores and role), or, when current is nil, a fresh
// policy holding To alone. not_before and not_after are left out, so
// `policy sign` stamps a fresh validity; comments are not carried over.
func Rotate(current *Document, opt RotateOptions) ([]byte, error) {
	if err := checkRotate(current, opt); err != nil {
		return nil, fmt.Errorf("rotate: %w", err)
	}
	d := &Document{ReportUnknownRoots: true}
	if current != nil {
		cp := *current
		d = &cp
		d.Anchors = slices.Clone(current.Anchors)
		d.Remove = slices.Clone(current.Remove)
		d.Distrust = slices.Clone(current.Distrust)
	}
	d.Serial = opt.Serial
	if d.Serial == 0 {
		d.Serial = current.Serial + 1
	}
	d.NotBefore, d.NotAfter = nil, nil
	oldFP, newFP := stores.SHA256(opt.From), stores.SHA256(opt.To)
	d.Remove = slices.DeleteFunc(d.Remove, func(r Removal) bool { return r.SHA256 == oldFP || r.SHA256 == newFP })
	d.Distrust = slices.DeleteFunc(d.Distrust, func(e DistrustEntry) bool {
		return e.SHA256 == oldFP || (e.Cert != nil && e.Cert.Equal(opt.From))
	})
	d.Anchors = placeSuccessor(d.Anchors, opt, !opt.Overlap.IsZero())
	entry := DistrustEntry{PEM: pemOf(opt.From), Reason: opt.Reason}
	if opt.Overlap.IsZero() {
		entry.SPKISHA256 = stores.SPKIHash(opt.From)
		if entry.Reason == "" {
			entry.Reason = fmt.Sprintf("compromised: replaced by %q (sha256 %s)", opt.To.Subject.CommonName, newFP)
		}
	} else {
		at := opt.Overlap.UTC().Truncate(time.Second)
		entry.After = &at
		if entry.Reason == "" {
			entry.Reason = fmt.Sprintf("retired: replaced by %q (sha256 %s)", opt.To.Subject.CommonName, newFP)
		}
	}
	d.Distrust = append(d.Distrust, entry)
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("rotate: %w", err)
	}
	out = append(out, '\n')
	if _, err := Parse(out); err != nil {
		return nil, fmt.Errorf("rotate: the rotated policy does not validate: %w", err)
	}
	return out, nil
}

// checkRotate refuses a rotation that cannot be written.
func checkRotate(current *Document, opt RotateOptions) error {
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	switch {
	case opt.From == nil || opt.To == nil:
		return errors.New("give the CA to replace (--from) and its successor (--to)")
	case opt.From.Equal(opt.To):
		return errors.New("--from and --to are the same certificate")
	case !opt.To.IsCA:
		return fmt.Errorf("--to %q: %w", opt.To.Subject.CommonName, ErrNotCA)
	case opt.Overlap.IsZero() && stores.SPKIHash(opt.From) == stores.SPKIHash(opt.To):
		return fmt.Errorf("--to %q uses the key of --from: after a leak the key is what is compromised; make the new CA with a new key", opt.To.Subject.CommonName)
	case !opt.Overlap.IsZero() && !opt.Overlap.After(now):
		return fmt.Errorf("--overlap %s is not in the future; for an immediate distrust leave --overlap out", opt.Overlap.UTC().Format(time.RFC3339))
	case !opt.Overlap.IsZero() && opt.Overlap.After(now.Add(MaxValidity)):
		return fmt.Errorf("--overlap %s is too far ahead (more than %d days)", opt.Overlap.UTC().Format(time.RFC3339), MaxValidity/(24*time.Hour))
	case current == nil && opt.Serial <= 0:
		return errors.New("without a current policy give --serial, higher than the serial the fleet holds")
	case current != nil && opt.Serial != 0 && opt.Serial <= current.Serial:
		return fmt.Errorf("--serial %d is not above the current policy's %d", opt.Serial, current.Serial)
	case now.After(opt.To.NotAfter):
		return fmt.Errorf("--to %q expired at %s", opt.To.Subject.CommonName, opt.To.NotAfter.UTC().Format(time.RFC3339))
	}
	if current != nil {
		for i, e := range current.Distrust {
			if (e.Cert != nil && e.Cert.Equal(opt.To)) || e.SHA256 == stores.SHA256(opt.To) || e.SPKISHA256 == stores.SPKIHash(opt.To) {
				return fmt.Errorf("--to %q is distrusted by the current policy (distrust[%d]: %s)", opt.To.Subject.CommonName, i, e.Reason)
			}
		}
	}
	return nil
}

// placeSuccessor returns anchors with To in From's place (emergency) or
// beside From, which then ends at Overlap (planned). To takes From's
// store kinds; a From not among the anchors gives To every kind.
func placeSuccessor(anchors []Anchor, opt RotateOptions, planned bool) []Anchor {
	next := Anchor{PEM: pemOf(opt.To)}
	var out []Anchor
	placed := false
	for _, a := range anchors {
		switch {
		case a.Cert != nil && a.Cert.Equal(opt.To):
			if !placed {
				a.RemoveAfter = nil
				out = append(out, a)
				placed = true
			}
			continue
		case a.Cert == nil || !a.Cert.Equal(opt.From):
			out = append(out, a)
			continue
		}
		next.Stores = slices.Clone(a.Stores)
		if planned {
			at := opt.Overlap.UTC().Truncate(time.Second)
			a.RemoveAfter = &at
			out = append(out, a)
		}
		if !placed {
			out = append(out, next)
			placed = true
		}
	}
	if !placed {
		out = append(out, next)
	}
	if planned && !slices.ContainsFunc(out, func(a Anchor) bool { return a.Cert != nil && a.Cert.Equal(opt.From) }) {
		at := opt.Overlap.UTC().Truncate(time.Second)
		out = append(out, Anchor{PEM: pemOf(opt.From), RemoveAfter: &at})
	}
	return out
}

func pemOf(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}
