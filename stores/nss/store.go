package nss

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"log/slog"
	"path"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// Database formats.
const (
	FormatCert9 = "cert9.db" // SQLite (NSS >= 3.35 default)
	FormatCert8 = "cert8.db" // legacy Berkeley DB
)

// legacyNote is the Note of a cert8.db store.
const legacyNote = "legacy cert8.db (NSS < 3.35): open the profile once in a current Firefox to migrate it, or run certutil -d sql:DIR to upgrade"

// Store is one NSS database directory.
type Store struct {
	info stores.Info
	root string // host directory the host's filesystem is under
	dir  string // the database directory inside root
	log  *slog.Logger
	// certutil is the certutil command; empty means look it up on PATH
	// when a write needs it.
	certutil string
}

// Open returns the store of the NSS database in dir (a path inside
// root), as discovery would: format from the files present, owner from
// the database file. app names the application ("firefox", "chromium",
// "system", …).
func Open(env stores.Env, dir, app string) (*Store, error) {
	env = env.Normalize()
	return open(env, readPasswd(env.Root), dir, app)
}

func open(env stores.Env, users users, dir, app string) (*Store, error) {
	resolved, err := fsroot.Resolve(env.Root, dir)
	if err != nil {
		return nil, fmt.Errorf("nss database %s: %w", dir, err)
	}
	s := &Store{root: env.Root, dir: resolved, log: env.Log}
	s.info = stores.Info{
		ID:   string(stores.KindNSS) + ":" + resolved,
		Kind: stores.KindNSS,
		Path: resolved,
		App:  app,
	}
	switch {
	case exists(fsroot.Join(env.Root, path.Join(resolved, FormatCert9))):
		s.info.Format = FormatCert9
		s.info.Owner = users.name(fsroot.Owner(fsroot.Join(env.Root, path.Join(resolved, FormatCert9))))
		s.info.Writable = certutilAvailable()
	case exists(fsroot.Join(env.Root, path.Join(resolved, FormatCert8))):
		s.info.Format = FormatCert8
		s.info.Owner = users.name(fsroot.Owner(fsroot.Join(env.Root, path.Join(resolved, FormatCert8))))
		s.info.Note = legacyNote
	default:
		return nil, fmt.Errorf("nss database %s: no cert9.db or cert8.db in it", dir)
	}
	return s, nil
}

// WithCertutil makes the store run the given certutil binary instead of
// the one on PATH (tests use it to simulate a missing tool).
func (s *Store) WithCertutil(bin string) *Store {
	c := *s
	c.certutil = bin
	c.info.Writable = c.info.Format == FormatCert9 && bin != "" && exists(bin)
	return &c
}

// Info describes the store.
func (s *Store) Info() stores.Info { return s.info }

// Dir returns the database directory as a host path.
func (s *Store) Dir() string { return fsroot.Join(s.root, s.dir) }

func (s *Store) dbFile() string { return path.Join(s.Dir(), FormatCert9) }

// List returns every certificate in the database with its TLS
// server-auth trust and the purposes NSS trusts it for, read straight
// from cert9.db. A trust object left without its certificate is listed
// too (Cert nil, untrusted, with its purposes): NSS applies it to the
// certificate whenever a server sends it.
func (s *Store) List(ctx context.Context) ([]stores.Anchor, error) {
	es, err := s.entries(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]stores.Anchor, 0, len(es))
	for _, e := range es {
		if a, ok := e.anchor(); ok {
			out = append(out, a)
		}
	}
	return out, nil
}

// leftoverLabel is the label of a trust object without its certificate.
const leftoverLabel = "leftover trust object without its certificate"

// anchor is e as List reports it; ok is false for a leftover trust
// object that does not name its certificate's SHA-256.
func (e entry) anchor() (stores.Anchor, bool) {
	if e.orphan() {
		if e.SHA256 == "" {
			return stores.Anchor{}, false
		}
		return stores.Anchor{SHA256: e.SHA256, Label: leftoverLabel, Purposes: e.purposes()}, true
	}
	a := stores.NewAnchor(e.Cert, e.Label, e.trusted())
	a.Purposes = e.purposes()
	return a, true
}

func (s *Store) entries(ctx context.Context) ([]entry, error) {
	if s.info.Format != FormatCert9 {
		return nil, fmt.Errorf("nss database %s: %s: %w", s.dir, legacyNote, stores.ErrNotSupported)
	}
	es, err := readEntries(ctx, s.Dir())
	if err != nil {
		return nil, fmt.Errorf("nss database %s: %w", s.dir, err)
	}
	return es, nil
}

// Watch names the database directory, cert9.db and key4.db: certutil
// and Firefox rewrite them in place, a restore replaces them, and a
// key4.db copied over from elsewhere takes the trust away (its MACs).
func (s *Store) Watch() stores.WatchSpec {
	return stores.WatchSpec{Paths: []string{s.Dir(), s.dbFile(), path.Join(s.Dir(), "key4.db")}}
}

// Install adds each certificate as a trusted CA for TLS server
// authentication only ("C,,"), or fixes its trust when it is present but
// not trusted, or trusted for more (S/MIME, code signing, client auth:
// what Firefox's Certificates.Install writes). Both trust objects an NSS
// generation may read are set (see setTrust). Certificates already
// present and trusted for TLS only are left alone: no certutil run.
func (s *Store) Install(ctx context.Context, certs []*x509.Certificate, opt stores.Options) ([]stores.Change, error) {
	if s.info.Format != FormatCert9 {
		return nil, fmt.Errorf("nss database %s: %s: %w", s.dir, legacyNote, stores.ErrNotSupported)
	}
	before, err := s.entries(ctx)
	if err != nil {
		return nil, err
	}
	var changes []stores.Change
	var todo []installStep
	for _, c := range certs {
		fp := stores.SHA256(c)
		action, nick := stores.ActionAdded, stores.Label(c)
		if e, ok := certEntry(before, fp); ok {
			action = stores.ActionTrusted
			if e.trusted() && tlsOnly(e.purposes()) {
				action = stores.ActionUnchanged
			}
			if e.Label != "" {
				nick = e.Label // certutil -A keeps an existing nickname anyway
			}
		}
		changes = append(changes, stores.Change{SHA256: fp, Action: action})
		if action != stores.ActionUnchanged {
			todo = append(todo, installStep{cert: c, nick: nick, trust: trustServerAuth})
		}
	}
	if opt.DryRun || len(todo) == 0 {
		return changes, nil
	}
	trustedTLSOnly := func(e entry) bool { return e.trusted() && tlsOnly(e.purposes()) }
	if err := s.apply(ctx, before, todo, "trusted for TLS server auth only", trustedTLSOnly); err != nil {
		return nil, err
	}
	return changes, nil
}

// apply runs the certutil steps of Install or Distrust and reads the
// database back: each certificate must then be what want says (what NSS
// itself reads, not what certutil reported).
func (s *Store) apply(ctx context.Context, before []entry, todo []installStep, what string, want func(entry) bool) error {
	if err := s.write(ctx, func(r *runner) error { return s.installAll(ctx, r, before, todo) }); err != nil {
		return err
	}
	after, err := s.entries(ctx)
	if err != nil {
		return fmt.Errorf("nss database %s: re-read after certutil: %w", s.dir, err)
	}
	for _, st := range todo {
		if e, ok := certEntry(after, stores.SHA256(st.cert)); !ok || !want(e) {
			return fmt.Errorf("nss database %s: certutil reported success but %q is not %s afterwards (%s)", s.dir, st.cert.Subject.CommonName, what, e.trust())
		}
	}
	return nil
}

// Trust strings Anchorwatch writes (certutil's SSL,S/MIME,JAR/XPI).
const (
	trustServerAuth = "C,,"   // a trusted CA for TLS server auth only
	trustDistrusted = "p,p,p" // refused for every purpose
	trustNone       = ",,"
)

// tlsOnly reports whether ps trusts for TLS server auth and nothing more.
func tlsOnly(ps []stores.Purpose) bool {
	return len(ps) == 1 && ps[0] == stores.PurposeServerAuth
}

// write runs fn with a runner on the database and finishes it (moving a
// private copy back, restoring modes) only when fn succeeded.
func (s *Store) write(ctx context.Context, fn func(r *runner) error) error {
	r, err := s.runner(ctx)
	if err != nil {
		return err
	}
	err = fn(r)
	if err != nil {
		err = fmt.Errorf("nss database %s: %w", s.dir, err)
	}
	if ferr := r.finish(err == nil); err == nil {
		err = ferr
	}
	return err
}

// installAll sets the trust of every step; on a failure it undoes what
// was done, so the database holds what it held.
func (s *Store) installAll(ctx context.Context, r *runner, before []entry, todo []installStep) error {
	for _, st := range todo {
		if err := s.setTrust(ctx, r, st.cert.Raw, st.nick, st.trust); err != nil {
			s.rollbackAdds(ctx, r, before, todo)
			return err
		}
	}
	return nil
}

type installStep struct {
	cert  *x509.Certificate
	nick  string
	trust string
}

// rollbackAdds undoes what a failed Install did: certificates that were
// absent before are deleted again and the others put back as they were.
func (s *Store) rollbackAdds(ctx context.Context, r *runner, before []entry, todo []installStep) {
	now, err := r.entries(ctx)
	if err != nil {
		return
	}
	for _, st := range todo {
		fp := stores.SHA256(st.cert)
		if _, had := certEntry(before, fp); had {
			continue
		}
		if _, has := certEntry(now, fp); has {
			_ = s.purge(ctx, r, before, fp, st.cert.Raw, map[string]bool{fp: true})
		}
	}
	_ = s.restoreCollateral(ctx, r, before, nil)
}

// Remove deletes every certificate whose SHA-256 is listed, whatever its
// nickname, with every trust object NSS keeps for it (see purge). A
// trust object left without its certificate is taken out too when the
// caller gives the certificate (Options.Certs); without it, Remove says
// so. certutil deletes by nickname, and NSS resolves a nickname to every
// certificate with the same subject, so after each deletion the database
// is re-read and any other certificate that lost its object or its trust
// is put back as it was.
func (s *Store) Remove(ctx context.Context, sha256s []string, opt stores.Options) ([]stores.Change, error) {
	if s.info.Format != FormatCert9 {
		return nil, fmt.Errorf("nss database %s: %s: %w", s.dir, legacyNote, stores.ErrNotSupported)
	}
	before, err := s.entries(ctx)
	if err != nil {
		return nil, err
	}
	given := map[string][]byte{}
	for _, c := range opt.Certs {
		given[stores.SHA256(c)] = c.Raw
	}
	want := map[string][]byte{}
	var order []string
	var changes []stores.Change
	for _, fp := range sha256s {
		n, ok := stores.NormalizeSHA256(fp)
		if !ok {
			return nil, fmt.Errorf("nss database %s: remove: %q is not a SHA-256 fingerprint", s.dir, fp)
		}
		action := stores.ActionUnchanged
		if der, present := holds(before, n, given[n]); present {
			if der == nil {
				return nil, fmt.Errorf("nss database %s: %w", s.dir, leftoverError(n))
			}
			action = stores.ActionRemoved
			want[n] = der
			order = append(order, n)
		}
		changes = append(changes, stores.Change{SHA256: n, Action: action})
	}
	if opt.DryRun || len(want) == 0 {
		return changes, nil
	}
	gone := map[string]bool{}
	for fp := range want {
		gone[fp] = true
	}
	err = s.write(ctx, func(r *runner) error {
		for _, fp := range order {
			if err := s.purge(ctx, r, before, fp, want[fp], gone); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return changes, nil
}

// leftoverError explains a trust object left without its certificate
// that Remove cannot take out without the certificate.
func leftoverError(fp string) error {
	return fmt.Errorf("a trust object for sha256 %s… remains without its certificate (an NSS older than 3.114 deleted only the certificate): Firefox trusts that CA whenever a server sends it; take it out with the certificate: anchorwatch remove --ca FILE", fp[:16])
}

// holds reports whether the database holds anything of certificate fp —
// the certificate, or a trust object left without it — and the DER to
// remove it with (the certificate's, or given when only a leftover trust
// object names it; nil when it is not known).
func holds(es []entry, fp string, given []byte) ([]byte, bool) {
	if e, ok := certEntry(es, fp); ok {
		return e.DER, true
	}
	if len(leftovers(es, fp, given)) > 0 {
		return given, true
	}
	return nil, false
}

// certEntry returns the certificate entry of fp.
func certEntry(es []entry, fp string) (entry, bool) {
	for _, e := range es {
		if !e.orphan() && e.SHA256 == fp {
			return e, true
		}
	}
	return entry{}, false
}

// leftovers returns the trust objects without a certificate that apply
// to certificate fp: named by its SHA-256, or (when der is known) by its
// issuer, serial number and SHA-1.
func leftovers(es []entry, fp string, der []byte) []entry {
	var c *x509.Certificate
	if der != nil {
		c, _ = x509.ParseCertificate(der)
	}
	var out []entry
	for _, e := range es {
		if !e.orphan() {
			continue
		}
		if e.SHA256 == fp || (c != nil && e.appliesTo(c)) {
			out = append(out, e)
		}
	}
	return out
}

// appliesTo reports whether the leftover trust object e names c (issuer
// and serial number, and its certificate hash when it has one).
func (e entry) appliesTo(c *x509.Certificate) bool {
	serial, err := asn1.Marshal(c.SerialNumber)
	if err != nil || !bytes.Equal(e.Issuer, c.RawIssuer) || !bytes.Equal(e.Serial, serial) {
		return false
	}
	return e.SHA256 == "" || e.SHA256 == stores.SHA256(c)
}
