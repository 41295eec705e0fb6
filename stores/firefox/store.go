package firefox

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// SystemPolicyPath is the system-wide policies.json every Linux Firefox
// (deb, rpm, tarball, snap) reads.
const SystemPolicyPath = "/etc/firefox/policies/policies.json"

// Mode is how a Firefox policy makes it trust our CA.
type Mode int

const (
	// ModeInstall lists the CA's PEM in Certificates.Install (Linux).
	ModeInstall Mode = iota
	// ModeEnterpriseRoots sets Certificates.ImportEnterpriseRoots, so
	// Firefox trusts what the OS store trusts (Windows, macOS).
	ModeEnterpriseRoots
)

// Config describes one policies.json store.
type Config struct {
	// Path is the policies.json as seen inside the root.
	Path string
	Mode Mode
	// OS is the OS store Firefox imports with ImportEnterpriseRoots
	// (ModeEnterpriseRoots only).
	OS stores.Store
	// Registry reads the Windows registry policy
	// (HKLM\SOFTWARE\Policies\Mozilla\Firefox\Certificates\ImportEnterpriseRoots);
	// nil elsewhere. set is false when no such policy exists.
	Registry func() (value, set bool, err error)
	// SearchDirs are where Firefox looks up an Install entry that is a
	// bare file name.
	SearchDirs []string
	// Native marks a Path that is a host path (Windows) rather than a
	// path inside the root.
	Native bool
}

// Store is one policies.json.
type Store struct {
	cfg Config
	env stores.Env
}

// New returns the store for one policies.json.
func New(cfg Config, env stores.Env) *Store { return &Store{cfg: cfg, env: env.Normalize()} }

// Info implements stores.Store.
func (s *Store) Info() stores.Info {
	return stores.Info{
		ID:       string(stores.KindFirefox) + ":" + s.cfg.Path,
		Kind:     stores.KindFirefox,
		Path:     s.cfg.Path,
		Format:   "policies.json",
		App:      "firefox",
		Writable: s.writable(),
		// Firefox imports every Certificates.Install CA with "CT,CT,":
		// TLS server and client auth and S/MIME, nothing narrower.
		CannotRestrict: s.cfg.Mode == ModeInstall,
	}
}

// installPurposes are what Firefox's Certificates.Install trusts a CA
// for: it imports it with NSS trust "CT,CT," (Policies.sys.mjs of
// Firefox ESR 153). The NSS adapter narrows the profile's copy to "C,,"
// afterwards; Firefox leaves a CA it already trusts for TLS alone.
var installPurposes = []stores.Purpose{stores.PurposeServerAuth, stores.PurposeClientAuth, stores.PurposeEmailProtection}

// writable reports whether this process can write the policy where it
// lives: a directory (or, while it is missing, the nearest parent) it
// may write, that no more than one user controls (asWriter refuses
// those). A native path (Windows) is left to its ACLs.
func (s *Store) writable() bool {
	if s.cfg.Native {
		return true
	}
	dir := s.host(s.dir())
	if _, err := fsroot.Controller(dir); err != nil {
		return false
	}
	return fsroot.CanWrite(dir)
}

// host returns the host path of p (a path inside the root, or native).
func (s *Store) host(p string) string {
	if s.cfg.Native {
		return p
	}
	return fsroot.Join(s.env.Root, p)
}

func (s *Store) dir() string {
	if s.cfg.Native {
		return filepath.Dir(s.cfg.Path)
	}
	return path.Dir(s.cfg.Path)
}

// PEMPath is where Install places the PEM of c: beside policies.json,
// named anchorwatch-<first 16 hex digits of its SHA-256>.pem. It is the
// path written into Certificates.Install.
func (s *Store) PEMPath(c *x509.Certificate) string {
	if s.cfg.Native {
		return filepath.Join(s.dir(), stores.Label(c)+".pem")
	}
	return path.Join(s.dir(), stores.Label(c)+".pem")
}

// Watch implements stores.Store.
func (s *Store) Watch() stores.WatchSpec {
	return stores.WatchSpec{Paths: []string{s.host(s.cfg.Path), s.host(s.dir())}}
}

// maxPEM bounds a certificate file Certificates.Install names.
const maxPEM = 1 << 20

// readFile reads p (inside the root, or a native path) the safe way: a
// regular file, at most max bytes, symbolic links followed inside the
// root only. A FIFO planted as policies.json is refused without
// blocking.
func (s *Store) readFile(p string, max int64) ([]byte, error) {
	if s.cfg.Native {
		return fsroot.ReadFile(p, fsroot.Want{Max: max, Follow: true})
	}
	return fsroot.ReadFileIn(s.env.Root, p, fsroot.Want{Max: max})
}

// asWriter runs fn as whoever may write the policy's directory: root
// where only root controls it, the one user who controls it otherwise (a
// Firefox a user unpacked under /opt is theirs). A directory more than
// one user can change is refused.
func (s *Store) asWriter(fn func() error) error {
	if s.cfg.Native {
		return fn()
	}
	ctl, err := fsroot.Controller(s.host(s.dir()))
	if err != nil {
		return fmt.Errorf("firefox policy %s: %w: %w: anchorwatch does not write a policy there", s.cfg.Path, stores.ErrUnsafe, err)
	}
	return fsroot.AsUser(ctl.UID, ctl.GID, fn)
}

// asReader runs fn as the user who controls the policy's directory, so
// a link of theirs cannot make root read what they could not; as root
// where only root controls it (or more than one user does: reading
// changes nothing).
func (s *Store) asReader(fn func() error) error {
	if s.cfg.Native {
		return fn()
	}
	ctl, err := fsroot.Controller(s.host(s.dir()))
	if err != nil {
		return fn()
	}
	return fsroot.AsUser(ctl.UID, ctl.GID, fn)
}

// read returns the parsed policies.json and its bytes; nil bytes when the
// file does not exist.
func (s *Store) read() (*Policies, []byte, error) {
	var b []byte
	err := s.asReader(func() (err error) {
		b, err = s.readFile(s.cfg.Path, MaxPolicies)
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		p, _ := ParsePolicies(nil)
		return p, nil, nil
	}
	if b == nil {
		b = []byte{}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("firefox policy %s: %w", s.cfg.Path, err)
	}
	p, err := ParsePolicies(b)
	if err != nil {
		return nil, nil, fmt.Errorf("firefox policy %s: %w; fix the file by hand, Anchorwatch leaves it untouched", s.cfg.Path, err)
	}
	return p, b, nil
}

// resolveInstall returns the path (inside the root, or native) of an
// Install entry: absolute paths as they are, bare file names in the
// search dirs.
func (s *Store) resolveInstall(entry string) (string, bool) {
	if s.cfg.Native && filepath.IsAbs(entry) || !s.cfg.Native && path.IsAbs(entry) {
		return entry, true
	}
	if strings.ContainsAny(entry, `/\`) {
		return "", false
	}
	for _, d := range s.cfg.SearchDirs {
		p := path.Join(d, entry)
		if _, err := os.Stat(s.host(p)); err == nil {
			return p, true
		}
	}
	return "", false
}

// parseCerts reads PEM or DER certificates.
func parseCerts(b []byte) ([]*x509.Certificate, error) {
	if !strings.Contains(string(b), "-----BEGIN") {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return nil, err
		}
		return []*x509.Certificate{c}, nil
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate")
	}
	return out, nil
}

// enterpriseRoots is the effective ImportEnterpriseRoots: a registry
// (Group Policy) value wins over policies.json, as in Firefox on Windows.
func (s *Store) enterpriseRoots(p *Policies) (on bool, source string, err error) {
	if s.cfg.Registry != nil {
		v, set, err := s.cfg.Registry()
		if err != nil {
			return false, "", err
		}
		if set {
			return v, "registry", nil
		}
	}
	v, _ := p.ImportEnterpriseRoots()
	return v, "policies.json", nil
}

// List implements stores.Store: the certificates Certificates.Install
// references (trusted), and on Windows/macOS the OS store's trusted
// anchors, trusted by Firefox only when ImportEnterpriseRoots is on.
func (s *Store) List(ctx context.Context) ([]stores.Anchor, error) {
	p, _, err := s.read()
	if err != nil {
		return nil, err
	}
	var out []stores.Anchor
	seen := map[string]int{}
	add := func(a stores.Anchor) {
		if i, ok := seen[a.SHA256]; ok {
			out[i].TrustedServerAuth = out[i].TrustedServerAuth || a.TrustedServerAuth
			return
		}
		seen[a.SHA256] = len(out)
		out = append(out, a)
	}
	for _, e := range p.Install() {
		ip, ok := s.resolveInstall(e)
		if !ok {
			s.env.Log.Warn("firefox policy: Certificates.Install entry not found", "policy", s.cfg.Path, "entry", e)
			continue
		}
		b, err := s.readFile(ip, maxPEM)
		if err != nil {
			s.env.Log.Warn("firefox policy: Certificates.Install entry unreadable", "policy", s.cfg.Path, "entry", e, "err", err)
			continue
		}
		certs, err := parseCerts(b)
		if err != nil {
			s.env.Log.Warn("firefox policy: Certificates.Install entry is not a certificate", "policy", s.cfg.Path, "entry", e, "err", err)
			continue
		}
		for _, c := range certs {
			a := stores.NewAnchor(c, e, true)
			a.Purposes = installPurposes
			add(a)
		}
	}
	if s.cfg.Mode == ModeEnterpriseRoots && s.cfg.OS != nil {
		on, _, err := s.enterpriseRoots(p)
		if err != nil {
			return nil, fmt.Errorf("firefox policy %s: %w", s.cfg.Path, err)
		}
		osAnchors, err := s.cfg.OS.List(ctx)
		if err != nil {
			return nil, fmt.Errorf("firefox policy %s: OS store %s: %w", s.cfg.Path, s.cfg.OS.Info().ID, err)
		}
		for _, a := range osAnchors {
			if !a.TrustedServerAuth {
				continue
			}
			a.TrustedServerAuth = on
			a.Label = "enterprise root: " + a.Label
			a.Purposes = []stores.Purpose{stores.PurposeServerAuth} // Firefox uses enterprise roots for TLS only
			add(a)
		}
	}
	return out, nil
}

// write writes policies.json; call it inside asWriter.
func (s *Store) write(p *Policies) error {
	b, err := p.Marshal()
	if err != nil {
		return fmt.Errorf("firefox policy %s: %w", s.cfg.Path, err)
	}
	hp := s.host(s.cfg.Path)
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		return fmt.Errorf("firefox policy %s: %w", s.cfg.Path, err)
	}
	if err := fsroot.WriteFileAtomic(hp, b, 0o644); err != nil {
		return fmt.Errorf("firefox policy %s: %w", s.cfg.Path, err)
	}
	return nil
}

// Install implements stores.Store. ModeInstall: write each CA's PEM to
// PEMPath and list it in Certificates.Install. ModeEnterpriseRoots: turn
// ImportEnterpriseRoots on (the OS adapter installs the CA itself); if a
// registry (Group Policy) value turns it off, that is an error: we do not
// fight Group Policy.
func (s *Store) Install(ctx context.Context, certs []*x509.Certificate, opt stores.Options) ([]stores.Change, error) {
	p, raw, err := s.read()
	if err != nil {
		return nil, err
	}
	var (
		changes []stores.Change
		dirty   bool
		files   map[string][]byte // CA files to write, by host path
	)
	if s.cfg.Mode == ModeEnterpriseRoots {
		changes, dirty, err = s.planEnterpriseRoots(p, certs)
	} else {
		changes, dirty, files = s.planInstall(p, certs)
	}
	if err != nil || opt.DryRun || (!dirty && len(files) == 0) {
		return changes, err
	}
	err = s.asWriter(func() error {
		if dirty {
			if err := s.remember(raw, raw != nil); err != nil {
				return err
			}
		}
		for hp, data := range files {
			if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
				return fmt.Errorf("firefox policy %s: %w", s.cfg.Path, err)
			}
			if err := fsroot.WriteFileAtomic(hp, data, 0o644); err != nil {
				return fmt.Errorf("firefox policy %s: CA file: %w", s.cfg.Path, err)
			}
		}
		if dirty {
			return s.write(p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return changes, nil
}

// planEnterpriseRoots turns ImportEnterpriseRoots on in p (the OS adapter
// installs the CA itself); a registry (Group Policy) value turning it off
// is an error: we do not fight Group Policy.
func (s *Store) planEnterpriseRoots(p *Policies, certs []*x509.Certificate) ([]stores.Change, bool, error) {
	on, src, err := s.enterpriseRoots(p)
	if err != nil {
		return nil, false, fmt.Errorf("firefox policy %s: %w", s.cfg.Path, err)
	}
	if !on && src == "registry" {
		return nil, false, fmt.Errorf("firefox policy %s: Certificates.ImportEnterpriseRoots is turned off by Group Policy (HKLM\\SOFTWARE\\Policies\\Mozilla\\Firefox); change it in the GPO, Anchorwatch does not fight Group Policy", s.cfg.Path)
	}
	action, dirty := stores.ActionUnchanged, false
	if !on {
		dirty = p.SetImportEnterpriseRoots(true)
		action = stores.ActionTrusted
	}
	var changes []stores.Change
	seen := map[string]bool{}
	for _, c := range certs {
		if fp := stores.SHA256(c); !seen[fp] {
			seen[fp] = true
			changes = append(changes, stores.Change{SHA256: fp, Action: action})
		}
	}
	return changes, dirty, nil
}

// planInstall lists each CA's PEM in p's Certificates.Install and returns
// the PEM files to write (host path to content).
func (s *Store) planInstall(p *Policies, certs []*x509.Certificate) ([]stores.Change, bool, map[string][]byte) {
	var changes []stores.Change
	dirty := false
	files := map[string][]byte{}
	for _, c := range stores.Unique(certs) {
		fp := stores.SHA256(c)
		pp := s.PEMPath(c)
		want := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		have, _ := s.readFile(pp, maxPEM)
		added := p.AddInstall(pp)
		fileOK := string(have) == string(want)
		switch {
		case !added && fileOK:
			changes = append(changes, stores.Change{SHA256: fp, Action: stores.ActionUnchanged})
			continue
		case !added:
			changes = append(changes, stores.Change{SHA256: fp, Action: stores.ActionTrusted})
		default:
			changes = append(changes, stores.Change{SHA256: fp, Action: stores.ActionAdded})
			dirty = true
		}
		if !fileOK {
			files[s.host(pp)] = want
		}
	}
	return changes, dirty, files
}

// Remove implements stores.Store: it takes every Certificates.Install
// entry holding a listed certificate out of the policy, and deletes the
// PEM files Anchorwatch wrote (never an administrator's). When nothing of
// ours is left, the place is left as Install found it (pristine.go): the
// administrator's original bytes put back, or a policies.json Install
// created deleted with its directories. Trust that comes from
// ImportEnterpriseRoots is removed in the OS store, not here.
func (s *Store) Remove(ctx context.Context, sha256s []string, opt stores.Options) ([]stores.Change, error) {
	p, raw, err := s.read()
	if err != nil {
		return nil, err
	}
	order, err := stores.Fingerprints(sha256s)
	if err != nil {
		return nil, fmt.Errorf("firefox policy %s: remove: %w", s.cfg.Path, err)
	}
	want := map[string]bool{}
	for _, fp := range order {
		want[fp] = true
	}
	removed := map[string]bool{}
	var ours []string
	for _, e := range p.Install() {
		ip, ok := s.resolveInstall(e)
		if !ok {
			continue
		}
		hp := s.host(ip)
		b, err := s.readFile(ip, maxPEM)
		if err != nil {
			continue
		}
		certs, err := parseCerts(b)
		if err != nil {
			continue
		}
		hit := false
		for _, c := range certs {
			if want[stores.SHA256(c)] {
				hit = true
				removed[stores.SHA256(c)] = true
			}
		}
		if hit {
			p.RemoveInstall(e)
			if strings.HasPrefix(filepath.Base(hp), stores.LabelPrefix) {
				ours = append(ours, hp)
			}
		}
	}
	var changes []stores.Change
	for _, fp := range order {
		a := stores.ActionUnchanged
		if removed[fp] {
			a = stores.ActionRemoved
		}
		changes = append(changes, stores.Change{SHA256: fp, Action: a})
	}
	if opt.DryRun {
		return changes, nil
	}
	if len(removed) == 0 {
		if string(raw) == legacyEmpty {
			// The emptied file an earlier Anchorwatch left: it shadows
			// every distribution/policies.json.
			err = s.asWriter(func() error { return s.restore(p, raw, false) })
		}
		return changes, err
	}
	err = s.asWriter(func() error {
		for _, hp := range ours {
			if err := os.Remove(hp); err != nil && !errors.Is(err, fs.ErrNotExist) {
				s.env.Log.Warn("firefox policy: could not delete CA file", "file", hp, "err", err)
			}
		}
		return s.restore(p, raw, s.oursLeft(p))
	})
	if err != nil {
		return nil, err
	}
	return changes, nil
}

// oursLeft reports whether p still lists a CA file Anchorwatch wrote
// beside the policy.
func (s *Store) oursLeft(p *Policies) bool {
	for _, e := range p.Install() {
		ip, ok := s.resolveInstall(e)
		if !ok {
			continue
		}
		if parentDir(ip, s.cfg.Native) == s.dir() && strings.HasPrefix(filepath.Base(ip), stores.LabelPrefix) {
			return true
		}
	}
	return false
}
