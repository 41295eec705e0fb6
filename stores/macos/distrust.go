package macos

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
)

var _ stores.Distruster = (*Store)(nil)

// Distrust implements stores.Distruster: `security add-trusted-cert -d -r
// deny -k System.keychain` for each certificate not denied yet. The admin
// trust settings then deny it for every policy, which macOS honours
// whichever keychain holds the certificate (Apple's own roots included);
// a copy whose settings were changed back to trust is denied again.
func (s *Store) Distrust(ctx context.Context, certs []*x509.Certificate, opt stores.Options) ([]stores.Change, error) {
	if s.note != "" {
		return nil, fmt.Errorf("macos store: %s: %w", s.note, stores.ErrNotSupported)
	}
	_, ts, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	var changes []stores.Change
	var todo []*x509.Certificate
	for _, c := range stores.Unique(certs) {
		fp := stores.SHA256(c)
		action := stores.ActionUnchanged
		if !ts[strings.ToUpper(stores.SHA1(c))].Denied {
			action = stores.ActionDistrusted
			todo = append(todo, c)
		}
		changes = append(changes, stores.Change{SHA256: fp, Action: action})
	}
	if opt.DryRun || len(todo) == 0 {
		return changes, nil
	}
	err = s.eachFile(ctx, "distrust", todo, func(c *x509.Certificate, p string) error {
		_, err := s.security(ctx, "add-trusted-cert", "-d", "-r", "deny", "-k", SystemKeychain, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	return changes, nil
}

// Undistrust implements stores.Distruster: the admin trust settings of
// each denied certificate are removed (`security remove-trusted-cert -d`).
// The certificate stays in the System keychain without settings, which
// trusts it for nothing; an Apple root gets its default trust back.
func (s *Store) Undistrust(ctx context.Context, sha256s []string, opt stores.Options) ([]stores.Change, error) {
	if s.note != "" {
		return nil, fmt.Errorf("macos store: %s: %w", s.note, stores.ErrNotSupported)
	}
	denied, err := s.Distrusted(ctx)
	if err != nil {
		return nil, err
	}
	byFP := map[string]*x509.Certificate{}
	for _, a := range denied {
		byFP[a.SHA256] = a.Cert
	}
	var changes []stores.Change
	var todo []*x509.Certificate
	fps, err := stores.Fingerprints(sha256s)
	if err != nil {
		return nil, fmt.Errorf("macos store: undistrust: %w", err)
	}
	for _, fp := range fps {
		action := stores.ActionUnchanged
		if c := byFP[fp]; c != nil {
			action = stores.ActionUndistrusted
			todo = append(todo, c)
			delete(byFP, fp)
		}
		changes = append(changes, stores.Change{SHA256: fp, Action: action})
	}
	if opt.DryRun || len(todo) == 0 {
		return changes, nil
	}
	err = s.eachFile(ctx, "undistrust", todo, func(c *x509.Certificate, p string) error {
		if _, err := s.security(ctx, "remove-trusted-cert", "-d", p); err != nil && !noTrustSettings(err) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return changes, nil
}

// Distrusted implements stores.Distruster: the System keychain's
// certificates the admin trust settings deny for every policy.
func (s *Store) Distrusted(ctx context.Context) ([]stores.Anchor, error) {
	certs, ts, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	var out []stores.Anchor
	for _, a := range anchors(certs, ts) {
		if ts[strings.ToUpper(stores.SHA1(a.Cert))].Denied {
			out = append(out, a)
		}
	}
	return out, nil
}

// eachFile writes each certificate to a file in a private temporary
// directory and runs fn with it; an authorization refusal wraps
// ErrNeedsMDM.
func (s *Store) eachFile(ctx context.Context, what string, certs []*x509.Certificate, fn func(c *x509.Certificate, path string) error) error {
	dir, err := os.MkdirTemp(s.TempDir, "anchorwatch-"+what+"-")
	if err != nil {
		return fmt.Errorf("macos store: %w", err)
	}
	defer os.RemoveAll(dir)
	for _, c := range certs {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := writePEM(dir, c)
		if err != nil {
			return fmt.Errorf("macos store: %w", err)
		}
		if err := fn(c, p); err != nil {
			if needsMDM(err) {
				return fmt.Errorf("macos store: %s %q: %w; deploy the change through MDM (see docs/macos.md): %v", what, c.Subject.CommonName, ErrNeedsMDM, err)
			}
			return fmt.Errorf("macos store: %s %q: %w", what, c.Subject.CommonName, err)
		}
	}
	return nil
}
