package policy

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/stores"
)

// Signer rotation and m-of-n signing.
//
// Rotation: a policy names the certificates of the signer(s) that take
// over in next_signers. An agent that accepts it keeps them beside its
// pinned signers and accepts a later policy they sign; once it accepts a
// policy signed by a next signer, the next signers become its pinned set
// and the old ones are dropped. next_signers is inside the signed
// content, so a collector cannot add a signer; and naming next signers is
// a change that needs every required signature (TrustChanges).
//
// m of n: an agent may pin n signers and require m valid signatures by
// distinct ones (VerifyOptions.Required). The rule: a policy needs m
// signatures unless, compared with the policy the agent holds, it changes
// only the routine fields (RoutineFields: serial, not_before, not_after,
// heartbeat_interval, rescan_interval) — the periodic re-signing before
// expiry and an interval tweak pass with one. Everything else needs m:
// what is trusted or distrusted (anchors, remove, distrust, blocklist,
// enforce_blocklist), who signs next (next_signers), what is reported or
// exempted (report_unknown_roots, exemptions), what the proxy leaves
// unopened (do_not_decrypt) and java_passwords. An agent holding no
// policy requires m.

// MaxNextSigners bounds next_signers.
const MaxNextSigners = 8

// RoutineFields returns the policy fields (JSON names) a policy may
// change with fewer than the required signatures.
func RoutineFields() []string {
	return []string{"serial", "not_before", "not_after", "heartbeat_interval", "rescan_interval"}
}

// TrustChanges returns, sorted, the fields (JSON names) in which next
// differs from held beyond the routine ones; held nil stands for an empty
// policy (an agent holding none), so every field next sets is a change.
func TrustChanges(held, next *Document) []string {
	if held == nil {
		held = &Document{}
	}
	a, b := fieldsJSON(held), fieldsJSON(next)
	var out []string
	for k, v := range b {
		if !bytes.Equal(a[k], v) {
			out = append(out, k)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// fieldsJSON returns the JSON of each non-routine field of d.
func fieldsJSON(d *Document) map[string]json.RawMessage {
	b, _ := json.Marshal(d)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	for _, f := range RoutineFields() {
		delete(m, f)
	}
	return m
}

// NextSignerCerts returns the parsed next_signers (valid after Parse).
func (d *Document) NextSignerCerts() []*x509.Certificate {
	var out []*x509.Certificate
	for _, p := range d.NextSigners {
		if c, err := parseOneCert(p); err == nil {
			out = append(out, c)
		}
	}
	return out
}

func (d *Document) validateNextSigners() []error {
	var errs fieldErrs
	bad := errs.add
	if len(d.NextSigners) > MaxNextSigners {
		bad("next_signers", "%d certificates, more than %d", len(d.NextSigners), MaxNextSigners)
	}
	seen := map[string]int{}
	for i, p := range d.NextSigners {
		f := fmt.Sprintf("next_signers[%d]", i)
		c, err := parseOneCert(p)
		if err != nil {
			bad(f, "%v", err)
			continue
		}
		if _, _, _, err := signerAlgorithms(c.PublicKey); err != nil {
			bad(f, "%v", err)
		}
		fp := stores.SHA256(c)
		if j, dup := seen[fp]; dup {
			bad(f, "same certificate as next_signers[%d]", j)
		}
		seen[fp] = i
		for j, a := range d.Anchors {
			if a.Cert != nil && a.Cert.Equal(c) {
				bad(f, "is anchors[%d]: a policy signer is not a trust anchor; use a separate signing certificate", j)
			}
		}
	}
	return errs
}

// checkNextSigners refuses, at signing time, a next signer that is not
// valid now: agents could never accept what it signs.
func (d *Document) checkNextSigners(now time.Time) error {
	for i, c := range d.NextSignerCerts() {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return fmt.Errorf("%w: next_signers[%d]: %q is valid %s to %s, not now", ErrInvalid, i, c.Subject.String(),
				c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))
		}
	}
	return nil
}

// parseOneCert parses a PEM text holding exactly one certificate.
func parseOneCert(text string) (*x509.Certificate, error) {
	if strings.Count(text, "-----BEGIN") != 1 {
		return nil, fmt.Errorf("want exactly one PEM CERTIFICATE block, found %d", strings.Count(text, "-----BEGIN"))
	}
	b, _ := pem.Decode([]byte(text))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("not a PEM CERTIFICATE block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// LoadCertificates reads one or more certificates from a file (a PEM
// bundle, or one DER certificate): a pinned signer set.
func LoadCertificates(file string) ([]*x509.Certificate, error) {
	data, err := readLimited(file, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("certificate %s: %w", file, err)
		}
		return []*x509.Certificate{c}, nil
	}
	var out []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("certificate %s: PEM block %d is %q, want CERTIFICATE", file, len(out)+1, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %s: block %d: %w", file, len(out)+1, err)
		}
		if slices.ContainsFunc(out, c.Equal) {
			return nil, fmt.Errorf("certificate %s: block %d repeats an earlier certificate", file, len(out)+1)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("certificate %s: no PEM CERTIFICATE block", file)
	}
	return out, nil
}
