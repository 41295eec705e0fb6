//go:build windows

package windows

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"

	"golang.org/x/sys/windows"

	"github.com/anchorwatch/anchorwatch/stores"
)

var _ stores.Distruster = (*Store)(nil)

// Distrust implements stores.Distruster: each certificate's machine copy
// in this store (ROOT or CA) is deleted and the certificate added to
// LocalMachine\Disallowed, which makes Windows refuse it whatever store
// holds it — a copy added back, or one Group Policy delivers.
func (s *Store) Distrust(ctx context.Context, certs []*x509.Certificate, opt stores.Options) ([]stores.Change, error) {
	anchors, dis, inMachine, err := s.current(ctx, true)
	if err != nil {
		return nil, err
	}
	plan := PlanDistrust(anchors, inMachine, dis, certs)
	for _, w := range plan.Warnings {
		s.env.Log.Warn("windows store: "+w, "store", ID(s.name))
	}
	if opt.DryRun || !stores.Changed(plan.Changes) {
		return plan.Changes, nil
	}
	if err := s.disallow(plan.Disallow); err != nil {
		return nil, err
	}
	der := map[string][]byte{}
	for _, c := range certs {
		der[stores.SHA256(c)] = c.Raw
	}
	if err := s.deleteMachine(plan.Delete, der); err != nil {
		return nil, err
	}
	return plan.Changes, nil
}

// disallow adds certs to the LocalMachine\Disallowed registry store.
func (s *Store) disallow(certs []*x509.Certificate) error {
	if len(certs) == 0 {
		return nil
	}
	h, err := openSystem(StoreDisallowed, true)
	if err != nil {
		return fmt.Errorf(`windows store %s: LocalMachine\Disallowed: %w; run as an administrator or SYSTEM`, ID(s.name), err)
	}
	defer windows.CertCloseStore(h, 0)
	for _, c := range certs {
		if err := addEncoded(h, c.Raw, nil); err != nil {
			return fmt.Errorf(`windows store %s: distrust %q in LocalMachine\Disallowed: %w`, ID(s.name), c.Subject.CommonName, err)
		}
	}
	return nil
}

// deleteMachine deletes the listed SHA-256s from this store's machine
// registry store.
func (s *Store) deleteMachine(fps []string, der map[string][]byte) error {
	if len(fps) == 0 {
		return nil
	}
	h, err := openSystem(s.name, true)
	if err != nil {
		return fmt.Errorf("windows store %s: %w; run as an administrator or SYSTEM", ID(s.name), err)
	}
	defer windows.CertCloseStore(h, 0)
	for _, fp := range fps {
		if err := deleteBySHA256(h, fp, der[fp]); err != nil {
			return fmt.Errorf("windows store %s: remove %s: %w", ID(s.name), fp, err)
		}
	}
	return nil
}

// Undistrust implements stores.Distruster: each certificate is taken out
// of the LocalMachine\Disallowed registry store (never a Group Policy
// Disallowed entry). Nothing is added to ROOT or CA.
func (s *Store) Undistrust(ctx context.Context, sha256s []string, opt stores.Options) ([]stores.Change, error) {
	if s.note != "" {
		return nil, fmt.Errorf("windows store %s: %s: %w", ID(s.name), s.note, stores.ErrNotSupported)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	es, err := machineEntries(StoreDisallowed)
	if err != nil {
		return nil, fmt.Errorf(`windows store %s: LocalMachine\Disallowed: %w`, ID(s.name), err)
	}
	der := map[string][]byte{}
	for _, e := range es {
		sum := sha256.Sum256(e.DER)
		der[hex.EncodeToString(sum[:])] = e.DER
	}
	var changes []stores.Change
	var del []string
	fps, err := stores.Fingerprints(sha256s)
	if err != nil {
		return nil, fmt.Errorf("windows store %s: undistrust: %w", ID(s.name), err)
	}
	for _, fp := range fps {
		action := stores.ActionUnchanged
		if der[fp] != nil {
			action = stores.ActionUndistrusted
			del = append(del, fp)
		}
		changes = append(changes, stores.Change{SHA256: fp, Action: action})
	}
	if opt.DryRun || len(del) == 0 {
		return changes, nil
	}
	h, err := openSystem(StoreDisallowed, true)
	if err != nil {
		return nil, fmt.Errorf(`windows store %s: LocalMachine\Disallowed: %w; run as an administrator or SYSTEM`, ID(s.name), err)
	}
	defer windows.CertCloseStore(h, 0)
	for _, fp := range del {
		if err := deleteBySHA256(h, fp, der[fp]); err != nil {
			return nil, fmt.Errorf(`windows store %s: LocalMachine\Disallowed: remove %s: %w`, ID(s.name), fp, err)
		}
	}
	return changes, nil
}

// Distrusted implements stores.Distruster: every certificate of
// LocalMachine\Disallowed (all its physical stores).
func (s *Store) Distrusted(ctx context.Context) ([]stores.Anchor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	es, err := readSystem(StoreDisallowed)
	if err != nil {
		return nil, fmt.Errorf(`windows store %s: LocalMachine\Disallowed: %w`, ID(s.name), err)
	}
	var out []stores.Anchor
	seen := map[string]bool{}
	for _, e := range es {
		c, err := x509.ParseCertificate(e.DER)
		if err != nil {
			continue
		}
		a := stores.NewAnchor(c, c.Subject.CommonName, false)
		if !seen[a.SHA256] {
			seen[a.SHA256] = true
			out = append(out, a)
		}
	}
	return out, nil
}
