package agent

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// The policy signers the agent trusts. The config's policy_signer_file
// pins the first set (one certificate, or n for m-of-n signing with
// policy_signatures_required = m). A policy may name next_signers: the
// agent then accepts their signatures too, and once it accepts a policy
// one of them signed, they become its pinned set and the old signers are
// dropped. What it pins is kept in state_dir/signers.json, tied to the
// config's set: when an administrator pins other signers in the config,
// the config wins and the learned rotation is forgotten.

// fileSigners holds the pins in the state directory.
const fileSigners = "signers.json"

// pins are the signers whose policies the agent accepts.
type pins struct {
	Pinned []*x509.Certificate
	// Next are the signers the policy in force names to take over.
	Next []*x509.Certificate
	// base identifies the config's signer set the pins grew from.
	base string
}

// pinsFile is signers.json.
type pinsFile struct {
	Base   string   `json:"base"`
	Pinned []string `json:"pinned"`
	Next   []string `json:"next,omitempty"`
}

// basePins returns the pins of the config's signer set.
func basePins(cfg []*x509.Certificate) pins {
	ids := make([]string, 0, len(cfg))
	for _, c := range cfg {
		ids = append(ids, stores.SHA256(c))
	}
	slices.Sort(ids)
	return pins{Pinned: cfg, base: strings.Join(ids, ",")}
}

// loadPins returns the pins kept in the state directory when they grew
// from the config's signer set, else that set. A note says why the kept
// pins were not used (empty when they were, or there were none).
func (s *stateDir) loadPins(cfg []*x509.Certificate) (p pins, note string) {
	p = basePins(cfg)
	data, err := readBounded(s.path(fileSigners), 1<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return p, ""
	}
	var f pinsFile
	if err == nil {
		err = json.Unmarshal(data, &f)
	}
	if err != nil {
		return p, fmt.Sprintf("%s is unreadable (%v): using the signers of policy_signer_file", fileSigners, err)
	}
	if f.Base != p.base {
		return p, "policy_signer_file pins other signers than the ones the kept rotation grew from: the config wins"
	}
	pinned, err1 := parsePEMs(f.Pinned)
	next, err2 := parsePEMs(f.Next)
	if err := errors.Join(err1, err2); err != nil || len(pinned) == 0 {
		return p, fmt.Sprintf("%s is damaged (%v): using the signers of policy_signer_file", fileSigners, err)
	}
	return pins{Pinned: pinned, Next: next, base: f.Base}, ""
}

// savePins writes the pins atomically (0600).
func (s *stateDir) savePins(p pins) error {
	data, err := json.MarshalIndent(pinsFile{Base: p.base, Pinned: pemList(p.Pinned), Next: pemList(p.Next)}, "", "  ")
	if err != nil {
		return err
	}
	return fsroot.WriteFileAtomic(s.path(fileSigners), append(data, '\n'), 0o600)
}

// verifyOptions returns what a policy must satisfy under these pins: m
// signatures (required) unless it changes only routine fields from held.
func (p pins) verifyOptions(required int, held *policy.Document) policy.VerifyOptions {
	return policy.VerifyOptions{Signers: p.Pinned, NextSigners: p.Next, Required: required, Held: held}
}

// advancePins returns the pins after accepting v: when a next signer
// signed it, the next signers become the pinned set (the old ones are
// dropped); the next set is then what v's policy names. changed says
// whether anything differs.
func advancePins(p pins, v *policy.Verified) (out pins, changed bool) {
	out = pins{Pinned: p.Pinned, base: p.base}
	for _, s := range v.Signers {
		if slices.ContainsFunc(p.Next, s.Equal) && !slices.ContainsFunc(p.Pinned, s.Equal) {
			out.Pinned = p.Next
			break
		}
	}
	for _, c := range v.Document.NextSignerCerts() {
		if !slices.ContainsFunc(out.Pinned, c.Equal) {
			out.Next = append(out.Next, c)
		}
	}
	return out, !sameCerts(out.Pinned, p.Pinned) || !sameCerts(out.Next, p.Next)
}

// checkNextSigners refuses a policy whose next signers could never sign a
// policy this agent accepts: fewer of them than the signatures it
// requires.
func checkNextSigners(d *policy.Document, required int) error {
	if n := len(d.NextSigners); n > 0 && n < required {
		return fmt.Errorf("%w: next_signers names %d signer(s), but this agent requires %d signatures (policy_signatures_required): "+
			"it could accept no anchor change after the rotation", policy.ErrInvalid, n, required)
	}
	return nil
}

func sameCerts(a, b []*x509.Certificate) bool {
	return slices.EqualFunc(a, b, func(x, y *x509.Certificate) bool { return x.Equal(y) })
}

func pemList(certs []*x509.Certificate) []string {
	out := make([]string, 0, len(certs))
	for _, c := range certs {
		out = append(out, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	return out
}

func parsePEMs(list []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for i, s := range list {
		b, _ := pem.Decode([]byte(s))
		if b == nil || b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("entry %d is not a PEM certificate", i)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func subjects(certs []*x509.Certificate) string {
	var out []string
	for _, c := range certs {
		out = append(out, fmt.Sprintf("%q", c.Subject.String()))
	}
	return strings.Join(out, ", ")
}

// verifyOpts returns the options a fetched policy is verified with, or,
// for the stored one (re-verified at start, accepted before), one valid
// signature by a pinned or next signer, expired or not.
func (a *Agent) verifyOpts(stored bool) policy.VerifyOptions {
	a.mu.Lock()
	p := a.pins
	a.mu.Unlock()
	if stored {
		opt := p.verifyOptions(1, nil)
		opt.AllowExpiredSigner, opt.AllowExpired = true, true
		return opt
	}
	held := a.policyDoc()
	opt := p.verifyOptions(a.cfg.PolicySignaturesRequired, held)
	opt.HeldSerial, opt.MinSerial = a.heldSerial(), a.cfg.MinPolicySerial
	return opt
}

// adoptPins moves the pins on after v was accepted and keeps them.
func (a *Agent) adoptPins(v *policy.Verified) {
	a.mu.Lock()
	next, changed := advancePins(a.pins, v)
	if changed {
		a.pins = next
	}
	a.mu.Unlock()
	if !changed {
		return
	}
	if err := a.state.savePins(next); err != nil {
		a.log.Error("cannot keep the policy signers", "err", err)
	}
	a.log.Info("policy signers", "pinned", subjects(next.Pinned), "next", subjects(next.Next), "serial", v.Document.Serial)
}
