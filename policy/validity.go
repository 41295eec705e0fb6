package policy

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// Validity of signed policies.
const (
	// DefaultValidity is the lifetime Sign gives a policy whose document
	// sets no not_after.
	DefaultValidity = 90 * 24 * time.Hour
	// MinValidity and MaxValidity bound the lifetime Sign accepts: a
	// policy must outlive its distribution, and one valid for years
	// would make expiry no defence against a replay.
	MinValidity = time.Hour
	MaxValidity = 3 * 366 * 24 * time.Hour
	// ExpiryWarning is how long before not_after an agent starts warning
	// (policy-expiring), or a quarter of the policy's lifetime when that
	// is shorter.
	ExpiryWarning = 14 * 24 * time.Hour
)

// Reasons a policy is outside its validity. Verify wraps one of them
// (unless VerifyOptions.AllowExpired), and so does Document.CheckValidity.
var (
	ErrExpired     = errors.New("policy has expired")
	ErrNotYetValid = errors.New("policy is not valid yet")
	ErrNoExpiry    = errors.New("policy has no not_after")
)

// CheckValidity reports whether the policy may be taken in at now: it must
// carry not_after, now must not be past it, nor before not_before.
func (d *Document) CheckValidity(now time.Time) error {
	switch {
	case d.NotAfter == nil:
		return fmt.Errorf("%w: it was signed without an expiry (before anchorwatch signed one in); sign it again with `anchorwatch policy sign`", ErrNoExpiry)
	case now.After(*d.NotAfter):
		return fmt.Errorf("%w: serial %d was valid until %s (now %s); publish a newly signed policy", ErrExpired,
			d.Serial, d.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case d.NotBefore != nil && now.Before(*d.NotBefore):
		return fmt.Errorf("%w: serial %d is valid from %s (now %s); check the clocks, or wait", ErrNotYetValid,
			d.Serial, d.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// WarnAt returns when an agent holding the policy starts warning that it
// expires: ExpiryWarning before not_after, or a quarter of its lifetime
// (from signedAt) when that is shorter. Zero when the policy has no
// not_after.
func (d *Document) WarnAt(signedAt time.Time) time.Time {
	if d.NotAfter == nil {
		return time.Time{}
	}
	lead := ExpiryWarning
	if !signedAt.IsZero() && d.NotAfter.After(signedAt) {
		lead = min(lead, d.NotAfter.Sub(signedAt)/4)
	}
	return d.NotAfter.Add(-lead)
}

// withNotAfter returns doc (a JSON object) with a top-level "not_after"
// inserted as its first member, leaving every other byte as written.
func withNotAfter(doc []byte, notAfter time.Time) ([]byte, error) {
	i := bytes.IndexByte(doc, '{')
	if i < 0 || len(bytes.TrimSpace(doc[:i])) > 0 {
		return nil, fmt.Errorf("%w: the policy must be a JSON object", ErrInvalid)
	}
	// Reuse the indentation of the first member, so the result reads as
	// if written by hand.
	rest := doc[i+1:]
	ws := rest[:len(rest)-len(bytes.TrimLeft(rest, " \t\r\n"))]
	if len(ws) == 0 {
		ws = []byte(" ")
	}
	var out bytes.Buffer
	out.Grow(len(doc) + 64)
	out.Write(doc[:i+1])
	out.Write(ws)
	fmt.Fprintf(&out, "%q: %q,", "not_after", notAfter.UTC().Format(time.RFC3339))
	out.Write(rest)
	return out.Bytes(), nil
}
