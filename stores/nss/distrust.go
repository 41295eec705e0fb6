package nss

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
)

var (
	_ stores.Distruster = (*Store)(nil)
	_ stores.Auditor    = (*Store)(nil)
)

// Distrust implements stores.Distruster: each certificate is kept in the
// database with explicit distrust for every purpose ("p,p,p", what
// certutil -t p,p,p and Firefox's certificate manager write), in every
// trust object an NSS generation reads (setTrust), so NSS refuses it —
// also when a server sends it in its chain. A certificate already
// refused everywhere is unchanged.
func (s *Store) Distrust(ctx context.Context, certs []*x509.Certificate, opt stores.Options) ([]stores.Change, error) {
	if s.info.Format != FormatCert9 {
		return nil, fmt.Errorf("nss database %s: %s: %w", s.dir, legacyNote, stores.ErrNotSupported)
	}
	before, err := s.entries(ctx)
	if err != nil {
		return nil, err
	}
	var changes []stores.Change
	var todo []installStep
	for _, c := range stores.Unique(certs) {
		fp := stores.SHA256(c)
		e, ok := certEntry(before, fp)
		if ok && e.distrusted() && len(leftovers(before, fp, c.Raw)) == 0 {
			changes = append(changes, stores.Change{SHA256: fp, Action: stores.ActionUnchanged})
			continue
		}
		nick := stores.Label(c)
		if ok && e.Label != "" {
			nick = e.Label
		}
		changes = append(changes, stores.Change{SHA256: fp, Action: stores.ActionDistrusted})
		todo = append(todo, installStep{cert: c, nick: nick, trust: trustDistrusted})
	}
	if opt.DryRun || len(todo) == 0 {
		return changes, nil
	}
	if err := s.apply(ctx, before, todo, "distrusted", entry.distrusted); err != nil {
		return nil, err
	}
	return changes, nil
}

// Undistrust implements stores.Distruster: the distrust record of each
// certificate — the certificate kept with "p,p,p" — is deleted with its
// trust objects. No trust is added.
func (s *Store) Undistrust(ctx context.Context, sha256s []string, opt stores.Options) ([]stores.Change, error) {
	if s.info.Format != FormatCert9 {
		return nil, fmt.Errorf("nss database %s: %s: %w", s.dir, legacyNote, stores.ErrNotSupported)
	}
	before, err := s.entries(ctx)
	if err != nil {
		return nil, err
	}
	var fps []string
	var changes []stores.Change
	ids, err := stores.Fingerprints(sha256s)
	if err != nil {
		return nil, fmt.Errorf("nss database %s: undistrust: %w", s.dir, err)
	}
	for _, fp := range ids {
		action := stores.ActionUnchanged
		if e, ok := certEntry(before, fp); ok && e.distrusted() {
			action = stores.ActionUndistrusted
			fps = append(fps, fp)
		}
		changes = append(changes, stores.Change{SHA256: fp, Action: action})
	}
	if opt.DryRun || len(fps) == 0 {
		return changes, nil
	}
	if _, err := s.Remove(ctx, fps, opt); err != nil {
		return nil, err
	}
	return changes, nil
}

// Distrusted implements stores.Distruster: every certificate (or trust
// object left without it) that every NSS generation refuses.
func (s *Store) Distrusted(ctx context.Context) ([]stores.Anchor, error) {
	es, err := s.entries(ctx)
	if err != nil {
		return nil, err
	}
	var out []stores.Anchor
	for _, e := range es {
		if !e.distrusted() {
			continue
		}
		if a, ok := e.anchor(); ok {
			a.TrustedServerAuth = false
			out = append(out, a)
		}
	}
	return out, nil
}

// Audit implements stores.Auditor: Check, plus what a trust object left
// without its certificate means for each CA it applies to.
func (s *Store) Audit(ctx context.Context, want []*x509.Certificate) stores.Result {
	info := s.Info()
	if info.Note != "" {
		return stores.Result{Info: info, Status: stores.StatusError, Detail: info.Note}
	}
	es, err := s.entries(ctx)
	if err != nil {
		return stores.ErrorResult(info, err)
	}
	anchors := make([]stores.Anchor, 0, len(es))
	for _, e := range es {
		if a, ok := e.anchor(); ok {
			anchors = append(anchors, a)
		}
	}
	r := stores.Check(info, anchors, want)
	var notes []string
	for _, c := range want {
		fp := stores.SHA256(c)
		if _, ok := certEntry(es, fp); ok {
			continue
		}
		for _, e := range leftovers(es, fp, c.Raw) {
			notes = append(notes, fmt.Sprintf("%q (sha256 %s…): a trust object (%s) remains without the certificate; NSS applies it whenever a server sends the CA in its chain (install puts the certificate back, remove --ca FILE takes the object out)", c.Subject.CommonName, fp[:16], e.trust()))
		}
	}
	if len(notes) > 0 {
		r.Detail += "; " + strings.Join(notes, "; ")
	}
	return r
}
