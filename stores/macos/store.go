package macos

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// Paths on a Mac.
const (
	SystemKeychain     = "/Library/Keychains/System.keychain"
	AdminTrustSettings = "/Library/Security/Trust Settings/Admin.plist"
	Security           = "/usr/bin/security"
)

// ErrNeedsMDM is wrapped by Install and Remove when macOS refused to
// change admin trust settings without an administrator's interactive
// approval (macOS 11 and later): deploy the CA with the signed
// .mobileconfig (com.apple.security.root payload) through MDM instead.
// Callers report it as stores.StatusNeedsMDM.
var ErrNeedsMDM = stores.ErrNeedsMDM

// errDistrusted is wrapped by Install for a certificate the admin trust
// settings deny for every policy.
var errDistrusted = errors.New("is distrusted (the admin trust settings deny it for every policy)")

// Store is the System keychain with the admin trust settings.
type Store struct {
	run  Runner
	env  stores.Env
	note string
	// TempDir is where certificate files handed to security are written;
	// empty means os.TempDir().
	TempDir string
}

// New returns the System keychain store, running security through run.
func New(env stores.Env, run Runner) *Store {
	return &Store{run: run, env: env.Normalize()}
}

// ID is the store id of the System keychain.
const ID = string(stores.KindMacOS) + ":" + SystemKeychain

// Info implements stores.Store.
func (s *Store) Info() stores.Info {
	return stores.Info{ID: ID, Kind: stores.KindMacOS, Path: SystemKeychain, Format: "keychain", Writable: true, Note: s.note}
}

// Watch implements stores.Store: the keychain, the admin trust settings
// file, and the directories holding them (they are replaced by rename).
func (s *Store) Watch() stores.WatchSpec {
	var ps []string
	for _, p := range []string{SystemKeychain, filepath.Dir(SystemKeychain), AdminTrustSettings, filepath.Dir(AdminTrustSettings)} {
		ps = append(ps, fsroot.Join(s.env.Root, p))
	}
	return stores.WatchSpec{Paths: ps}
}

func (s *Store) security(ctx context.Context, args ...string) ([]byte, error) {
	return s.run.Run(ctx, Security, args...)
}

// noTrustSettings reports the error security gives when a domain or a
// certificate has no trust settings ("No Trust Settings were found.").
func noTrustSettings(err error) bool {
	var ce *CommandError
	return errors.As(err, &ce) && strings.Contains(ce.Stderr, "No Trust Settings were found")
}

// needsMDM reports whether err is macOS refusing a trust settings change
// for lack of interactive authorization. Headless runs on macOS 11+ print
// errSecInternalComponent; others print the authorization error text.
func needsMDM(err error) bool {
	var ce *CommandError
	if !errors.As(err, &ce) {
		return false
	}
	for _, s := range []string{
		"errSecInternalComponent",
		"no user interaction was possible",
		"The authorization was denied",
		"The authorization was canceled",
		"errAuthorization",
	} {
		if strings.Contains(ce.Stderr, s) {
			return true
		}
	}
	return false
}

// read returns the System keychain's certificates and the admin trust
// settings.
func (s *Store) read(ctx context.Context) ([]KeychainCert, TrustSettings, error) {
	out, err := s.security(ctx, "find-certificate", "-a", "-Z", "-p", SystemKeychain)
	if err != nil {
		return nil, nil, fmt.Errorf("macos store: read %s: %w", SystemKeychain, err)
	}
	certs, err := ParseFindCertificate(out)
	if err != nil {
		return nil, nil, fmt.Errorf("macos store: %s: %w", SystemKeychain, err)
	}
	dir, err := os.MkdirTemp(s.TempDir, "anchorwatch-trust-")
	if err != nil {
		return nil, nil, fmt.Errorf("macos store: %w", err)
	}
	defer os.RemoveAll(dir)
	f := filepath.Join(dir, "admin-trust.plist")
	if _, err := s.security(ctx, "trust-settings-export", "-d", f); err != nil {
		if noTrustSettings(err) {
			return certs, TrustSettings{}, nil
		}
		return nil, nil, fmt.Errorf("macos store: export admin trust settings: %w", err)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return nil, nil, fmt.Errorf("macos store: export admin trust settings: %w", err)
	}
	ts, err := ParseTrustSettings(b)
	if err != nil {
		return nil, nil, fmt.Errorf("macos store: admin trust settings: %w", err)
	}
	return certs, ts, nil
}

// List implements stores.Store.
func (s *Store) List(ctx context.Context) ([]stores.Anchor, error) {
	certs, ts, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	return anchors(certs, ts), nil
}

func anchors(certs []KeychainCert, ts TrustSettings) []stores.Anchor {
	out := make([]stores.Anchor, 0, len(certs))
	seen := map[string]bool{}
	for _, kc := range certs {
		t := ts[kc.SHA1]
		a := stores.NewAnchor(kc.Cert, kc.Cert.Subject.CommonName, t.SSL)
		a.Purposes = t.Purposes
		if seen[a.SHA256] {
			continue
		}
		seen[a.SHA256] = true
		out = append(out, a)
	}
	return out
}

// writePEM writes c to a file in dir for security to read.
func writePEM(dir string, c *x509.Certificate) (string, error) {
	p := filepath.Join(dir, stores.Label(c)+".pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600); err != nil {
		return "", err
	}
	return p, nil
}

// Install implements stores.Store. A root is added with
// `-r trustRoot`, an intermediate with `-r trustAsRoot` (the result type
// security allows for a non-root), both with `-p ssl`: the admin trust
// settings trust it for the SSL policy only. A copy present but trusted
// for more (an empty settings array: every policy) is given the SSL-only
// settings again (security replaces the certificate's settings), action
// "trusted"; a copy the settings deny (distrusted) is an error. If macOS refuses for lack of
// authorization, the error wraps ErrNeedsMDM; the certificate may then
// be in the keychain without trust, which List reports as untrusted.
func (s *Store) Install(ctx context.Context, certs []*x509.Certificate, opt stores.Options) ([]stores.Change, error) {
	if s.note != "" {
		return nil, fmt.Errorf("macos store: %s: %w", s.note, stores.ErrNotSupported)
	}
	present, ts, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, kc := range present {
		have[stores.SHA256(kc.Cert)] = true
	}
	var changes []stores.Change
	var todo []*x509.Certificate
	for _, c := range stores.Unique(certs) {
		fp := stores.SHA256(c)
		t := ts[strings.ToUpper(stores.SHA1(c))]
		switch {
		case have[fp] && t.Denied:
			return nil, fmt.Errorf("macos store: %q %w: run anchorwatch undistrust first if it is to be trusted again", c.Subject.CommonName, errDistrusted)
		case have[fp] && t.SSL && len(t.Purposes) == 1 && t.Purposes[0] == stores.PurposeServerAuth:
			changes = append(changes, stores.Change{SHA256: fp, Action: stores.ActionUnchanged})
		case have[fp]:
			changes = append(changes, stores.Change{SHA256: fp, Action: stores.ActionTrusted})
			todo = append(todo, c)
		default:
			changes = append(changes, stores.Change{SHA256: fp, Action: stores.ActionAdded})
			todo = append(todo, c)
		}
	}
	if opt.DryRun || len(todo) == 0 {
		return changes, nil
	}
	dir, err := os.MkdirTemp(s.TempDir, "anchorwatch-install-")
	if err != nil {
		return nil, fmt.Errorf("macos store: %w", err)
	}
	defer os.RemoveAll(dir)
	var done []stores.Change
	for _, ch := range changes {
		if ch.Action == stores.ActionUnchanged {
			done = append(done, ch)
			continue
		}
		var c *x509.Certificate
		for _, t := range todo {
			if stores.SHA256(t) == ch.SHA256 {
				c = t
			}
		}
		p, err := writePEM(dir, c)
		if err != nil {
			return done, fmt.Errorf("macos store: %w", err)
		}
		result := "trustRoot"
		if !stores.IsSelfSigned(c) {
			result = "trustAsRoot"
		}
		if _, err := s.security(ctx, "add-trusted-cert", "-d", "-r", result, "-p", "ssl", "-k", SystemKeychain, p); err != nil {
			if needsMDM(err) {
				return done, fmt.Errorf("macos store: trust %q: %w; deploy the signed .mobileconfig through MDM (see docs/macos.md): %v", c.Subject.CommonName, ErrNeedsMDM, err)
			}
			return done, fmt.Errorf("macos store: trust %q: %w", c.Subject.CommonName, err)
		}
		done = append(done, ch)
	}
	return done, nil
}

// Remove implements stores.Store: it removes the admin trust settings of
// each certificate, then deletes it from the System keychain by SHA-1.
func (s *Store) Remove(ctx context.Context, sha256s []string, opt stores.Options) ([]stores.Change, error) {
	if s.note != "" {
		return nil, fmt.Errorf("macos store: %s: %w", s.note, stores.ErrNotSupported)
	}
	present, _, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	byFP := map[string]*x509.Certificate{}
	for _, kc := range present {
		byFP[stores.SHA256(kc.Cert)] = kc.Cert
	}
	var changes []stores.Change
	fps, err := stores.Fingerprints(sha256s)
	if err != nil {
		return nil, fmt.Errorf("macos store: remove: %w", err)
	}
	for _, fp := range fps {
		action := stores.ActionUnchanged
		if byFP[fp] != nil {
			action = stores.ActionRemoved
		}
		changes = append(changes, stores.Change{SHA256: fp, Action: action})
	}
	if opt.DryRun {
		return changes, nil
	}
	dir, err := os.MkdirTemp(s.TempDir, "anchorwatch-remove-")
	if err != nil {
		return nil, fmt.Errorf("macos store: %w", err)
	}
	defer os.RemoveAll(dir)
	var done []stores.Change
	for _, ch := range changes {
		c := byFP[ch.SHA256]
		if c == nil {
			done = append(done, ch)
			continue
		}
		p, err := writePEM(dir, c)
		if err != nil {
			return done, fmt.Errorf("macos store: %w", err)
		}
		if _, err := s.security(ctx, "remove-trusted-cert", "-d", p); err != nil && !noTrustSettings(err) {
			if needsMDM(err) {
				return done, fmt.Errorf("macos store: untrust %q: %w: %v", c.Subject.CommonName, ErrNeedsMDM, err)
			}
			return done, fmt.Errorf("macos store: untrust %q: %w", c.Subject.CommonName, err)
		}
		if _, err := s.security(ctx, "delete-certificate", "-Z", strings.ToUpper(stores.SHA1(c)), SystemKeychain); err != nil {
			return done, fmt.Errorf("macos store: delete %q from %s: %w", c.Subject.CommonName, SystemKeychain, err)
		}
		done = append(done, ch)
	}
	return done, nil
}
