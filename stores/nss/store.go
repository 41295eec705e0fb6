package nss

import (
	"context"
	"crypto/x509"
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
// server-auth trust, read straight from cert9.db.
func (s *Store) List(ctx context.Context) ([]stores.Anchor, error) {
	es, err := s.entries(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]stores.Anchor, 0, len(es))
	for _, e := range es {
		a := stores.NewAnchor(e.Cert, e.Label, e.trusted())
		out = append(out, a)
	}
	return out, nil
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

// Install adds each certificate as a trusted CA ("C,,") with certutil,
// or fixes its trust when it is present but not trusted. Certificates
// already present and trusted are left alone: no certutil run.
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
		for _, e := range before {
			if e.SHA256 != fp {
				continue
			}
			if e.trusted() {
				action = stores.ActionUnchanged
				break
			}
			action = stores.ActionTrusted
			if e.Label != "" {
				nick = e.Label // certutil -A keeps an existing nickname anyway
			}
		}
		changes = append(changes, stores.Change{SHA256: fp, Action: action})
		if action != stores.ActionUnchanged {
			todo = append(todo, installStep{cert: c, nick: nick, trust: "C,,"})
		}
	}
	if opt.DryRun || len(todo) == 0 {
		return changes, nil
	}
	r, err := s.runner(ctx)
	if err != nil {
		return nil, err
	}
	err = s.installAll(ctx, r, before, todo)
	if ferr := r.finish(err == nil); err == nil {
		err = ferr
	}
	if err != nil {
		return nil, err
	}
	after, err := s.entries(ctx)
	if err != nil {
		return nil, fmt.Errorf("nss database %s: re-read after certutil: %w", s.dir, err)
	}
	for _, st := range todo {
		if !hasTrusted(after, stores.SHA256(st.cert)) {
			return nil, fmt.Errorf("nss database %s: certutil reported success but %q is not trusted for TLS server auth afterwards", s.dir, st.cert.Subject.CommonName)
		}
	}
	return changes, nil
}

// installAll runs certutil -A for every step; on a failure it undoes
// what was done, so the database holds what it held.
func (s *Store) installAll(ctx context.Context, r *runner, before []entry, todo []installStep) error {
	for _, st := range todo {
		if err := r.add(ctx, st.cert.Raw, st.nick, st.trust); err != nil {
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
// absent before are deleted again, so the store holds what it held.
func (s *Store) rollbackAdds(ctx context.Context, r *runner, before []entry, todo []installStep) {
	now, err := r.entries(ctx)
	if err != nil {
		return
	}
	for _, st := range todo {
		fp := stores.SHA256(st.cert)
		if has(before, fp) || !has(now, fp) {
			continue
		}
		for _, e := range now {
			if e.SHA256 == fp {
				_ = r.delete(ctx, e.Label)
			}
		}
	}
	s.restoreCollateral(ctx, r, before, nil)
}

// Remove deletes every certificate whose SHA-256 is listed, whatever its
// nickname. certutil deletes by nickname, and NSS resolves a nickname to
// every certificate with the same subject, so after each deletion the
// database is re-read and any other certificate that lost its object or
// its trust is put back as it was.
func (s *Store) Remove(ctx context.Context, sha256s []string, opt stores.Options) ([]stores.Change, error) {
	if s.info.Format != FormatCert9 {
		return nil, fmt.Errorf("nss database %s: %s: %w", s.dir, legacyNote, stores.ErrNotSupported)
	}
	before, err := s.entries(ctx)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	var changes []stores.Change
	for _, fp := range sha256s {
		n, ok := stores.NormalizeSHA256(fp)
		if !ok {
			return nil, fmt.Errorf("nss database %s: remove: %q is not a SHA-256 fingerprint", s.dir, fp)
		}
		action := stores.ActionUnchanged
		if has(before, n) {
			action = stores.ActionRemoved
			want[n] = true
		}
		changes = append(changes, stores.Change{SHA256: n, Action: action})
	}
	if opt.DryRun || len(want) == 0 {
		return changes, nil
	}
	r, err := s.runner(ctx)
	if err != nil {
		return nil, err
	}
	err = s.removeAll(ctx, r, before, want)
	if ferr := r.finish(err == nil); err == nil {
		err = ferr
	}
	if err != nil {
		return nil, err
	}
	return changes, nil
}

// removeAll deletes, one certutil -D at a time, every certificate listed
// in want, putting back after each deletion whatever else certutil took.
func (s *Store) removeAll(ctx context.Context, r *runner, before []entry, want map[string]bool) error {
	// Each round deletes one certificate; bound the rounds so a tool that
	// reports success without deleting cannot loop us forever.
	for round := 0; round < 2*len(before)+2; round++ {
		now, err := r.entries(ctx)
		if err != nil {
			return err
		}
		var target *entry
		for i := range now {
			if want[now[i].SHA256] {
				target = &now[i]
				break
			}
		}
		if target == nil {
			return nil
		}
		if err := r.delete(ctx, target.Label); err != nil {
			s.restoreCollateral(ctx, r, before, want)
			return err
		}
		if err := s.restoreCollateral(ctx, r, before, want); err != nil {
			return err
		}
	}
	return fmt.Errorf("nss database %s: certutil -D did not remove the certificate(s); check the database with certutil -L -d sql:%s", s.dir, s.Dir())
}

// restoreCollateral puts back every certificate of before that is not
// listed in gone but is now missing or lost its trust.
func (s *Store) restoreCollateral(ctx context.Context, r *runner, before []entry, gone map[string]bool) error {
	now, err := r.entries(ctx)
	if err != nil {
		return err
	}
	cur := map[string]entry{}
	for _, e := range now {
		cur[e.SHA256] = e
	}
	for _, e := range before {
		if gone[e.SHA256] {
			continue
		}
		c, ok := cur[e.SHA256]
		if ok && c.HasTrust == e.HasTrust && c.Trust == e.Trust {
			continue
		}
		trust := ",,"
		if e.HasTrust {
			trust = e.Trust.String()
		}
		s.log.Warn("nss: certutil touched a certificate sharing the subject; restoring it",
			"db", s.dir, "nickname", e.Label, "sha256", e.SHA256, "trust", trust)
		if err := r.add(ctx, e.DER, e.Label, trust); err != nil {
			return fmt.Errorf("nss database %s: restore %q after certutil changed it: %w", s.dir, e.Label, err)
		}
	}
	return nil
}

func has(es []entry, fp string) bool {
	for _, e := range es {
		if e.SHA256 == fp {
			return true
		}
	}
	return false
}

func hasTrusted(es []entry, fp string) bool {
	for _, e := range es {
		if e.SHA256 == fp && e.trusted() {
			return true
		}
	}
	return false
}
