//go:build windows

package windows

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/windows"

	"github.com/anchorwatch/anchorwatch/stores"
)

func init() {
	stores.Register(stores.Adapter{Kind: stores.KindWindows, Discover: Discover})
}

// Discover returns the LocalMachine ROOT and CA stores. They are the
// running host's: under a --root other than "/" they are listed with a
// note and not touched.
func Discover(ctx context.Context, env stores.Env) ([]stores.Store, error) {
	env = env.Normalize()
	var out []stores.Store
	for _, name := range []string{StoreRoot, StoreCA} {
		s := New(name, env)
		if !IsHostRoot(env.Root) {
			s.note = "crypt32 stores belong to the running Windows host; --root does not apply to them"
		}
		out = append(out, s)
	}
	return out, nil
}

// Store is one LocalMachine system store.
type Store struct {
	name string
	env  stores.Env
	note string
}

// New returns the LocalMachine system store name (StoreRoot or StoreCA).
func New(name string, env stores.Env) *Store { return &Store{name: name, env: env.Normalize()} }

// Info implements stores.Store.
func (s *Store) Info() stores.Info {
	i := info(s.name)
	i.Note = s.note
	return i
}

func (s *Store) read(ctx context.Context) (entries []Entry, disallowed map[string]bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	entries, err = readSystem(s.name)
	if err != nil {
		return nil, nil, fmt.Errorf("windows store %s: %w; run as an administrator or SYSTEM", ID(s.name), err)
	}
	for _, src := range []struct {
		key string
		src Source
	}{{GPOKey(s.name), SourceGPO}, {enterpriseKey(s.name), SourceEnterprise}} {
		es, err := readRegistryStore(src.key, src.src)
		if err != nil {
			return nil, nil, fmt.Errorf("windows store %s: %s physical store: %w", ID(s.name), src.src, err)
		}
		entries = append(entries, es...)
	}
	dis, err := readSystem(StoreDisallowed)
	if err != nil {
		return nil, nil, fmt.Errorf(`windows store %s: LocalMachine\Disallowed: %w`, ID(s.name), err)
	}
	disallowed = map[string]bool{}
	for _, e := range dis {
		sum := sha256.Sum256(e.DER)
		disallowed[hex.EncodeToString(sum[:])] = true
	}
	return entries, disallowed, nil
}

// List implements stores.Store.
func (s *Store) List(ctx context.Context) ([]stores.Anchor, error) {
	entries, dis, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	anchors, errs := Anchors(entries, dis)
	for _, e := range errs {
		s.env.Log.Warn("windows store: skipped a certificate", "store", ID(s.name), "err", e)
	}
	return anchors, nil
}

// current is what Install, Remove and Distrust start from: the store's
// anchors and the SHA-256s in Disallowed, and with machine those of the
// store's machine physical store.
func (s *Store) current(ctx context.Context, machine bool) (anchors []stores.Anchor, dis, inMachine map[string]bool, err error) {
	if s.note != "" {
		return nil, nil, nil, fmt.Errorf("windows store %s: %s: %w", ID(s.name), s.note, stores.ErrNotSupported)
	}
	entries, dis, err := s.read(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	anchors, _ = Anchors(entries, dis)
	if machine {
		if inMachine, err = readMachineRegistry(s.name); err != nil {
			return nil, nil, nil, fmt.Errorf("windows store %s: %w", ID(s.name), err)
		}
	}
	return anchors, dis, inMachine, nil
}

// Install implements stores.Store: it adds to the LocalMachine registry
// physical store only, each CA with the CERT_ENHKEY_USAGE_PROP_ID
// property set to serverAuth (trusted for TLS server authentication
// only), and leaves certificates Group Policy delivers alone.
func (s *Store) Install(ctx context.Context, certs []*x509.Certificate, opt stores.Options) ([]stores.Change, error) {
	anchors, dis, _, err := s.current(ctx, false)
	if err != nil {
		return nil, err
	}
	plan, err := PlanInstall(anchors, dis, certs)
	if err != nil {
		return nil, fmt.Errorf("windows store %s: %w", ID(s.name), err)
	}
	for _, w := range plan.Warnings {
		s.env.Log.Info("windows store: "+w, "store", ID(s.name))
	}
	if opt.DryRun || len(plan.Add) == 0 {
		return plan.Changes, nil
	}
	h, err := openSystem(s.name, true)
	if err != nil {
		return nil, fmt.Errorf("windows store %s: %w; run as an administrator or SYSTEM", ID(s.name), err)
	}
	defer windows.CertCloseStore(h, 0)
	byFP := map[string]*x509.Certificate{}
	for _, c := range plan.Add {
		byFP[stores.SHA256(c)] = c
	}
	var inMachine map[string]bool
	var done []stores.Change
	for _, ch := range plan.Changes {
		c := byFP[ch.SHA256]
		if ch.Action == stores.ActionTrusted {
			// A copy restricted otherwise, or trusted for more: delete it
			// and add it again with the TLS-only property.
			// (CERT_STORE_ADD_REPLACE_EXISTING keeps the old property
			// under Wine.)
			if inMachine == nil {
				if inMachine, err = readMachineRegistry(s.name); err != nil {
					return done, fmt.Errorf("windows store %s: %w", ID(s.name), err)
				}
			}
			if inMachine[ch.SHA256] {
				if err := deleteBySHA256(h, ch.SHA256, c.Raw); err != nil {
					return done, fmt.Errorf("windows store %s: replace restricted copy of %q: %w", ID(s.name), c.Subject.CommonName, err)
				}
			}
		}
		if c != nil {
			if err := addEncoded(h, c.Raw, ServerAuthEKU()); err != nil {
				return done, fmt.Errorf("windows store %s: add %q: %w", ID(s.name), c.Subject.CommonName, err)
			}
		}
		done = append(done, ch)
	}
	return done, nil
}

// Remove implements stores.Store. Copies delivered by Group Policy or
// Active Directory are not touched (see PlanRemove).
func (s *Store) Remove(ctx context.Context, sha256s []string, opt stores.Options) ([]stores.Change, error) {
	anchors, _, inMachine, err := s.current(ctx, true)
	if err != nil {
		return nil, err
	}
	plan, err := PlanRemove(anchors, inMachine, sha256s)
	if err != nil {
		return nil, fmt.Errorf("windows store %s: %w", ID(s.name), err)
	}
	for _, w := range plan.Warnings {
		s.env.Log.Warn("windows store: "+w, "store", ID(s.name))
	}
	if opt.DryRun || len(plan.Delete) == 0 {
		return plan.Changes, nil
	}
	der := map[string][]byte{}
	for _, a := range anchors {
		der[a.SHA256] = a.Cert.Raw
	}
	h, err := openSystem(s.name, true)
	if err != nil {
		return nil, fmt.Errorf("windows store %s: %w; run as an administrator or SYSTEM", ID(s.name), err)
	}
	defer windows.CertCloseStore(h, 0)
	var done []stores.Change
	for _, ch := range plan.Changes {
		if ch.Action == stores.ActionRemoved {
			if err := deleteBySHA256(h, ch.SHA256, der[ch.SHA256]); err != nil {
				return done, fmt.Errorf("windows store %s: remove %s: %w", ID(s.name), ch.SHA256, err)
			}
		}
		done = append(done, ch)
	}
	return done, nil
}

// Watch implements stores.Store: a registry notifier on the store keys.
func (s *Store) Watch() stores.WatchSpec {
	return stores.WatchSpec{Notifier: &Notifier{Keys: WatchKeys(s.name), Rescan: DefaultRescan}}
}

// DefaultRescan is how often the notifier signals even without a
// registry notification: the safety net for changes it cannot see.
const DefaultRescan = 15 * time.Minute

var errNoKey = errors.New("no key to watch")

// Accepts implements stores.Selector: roots (self-signed) belong in ROOT,
// intermediates in CA.
func (s *Store) Accepts(c *x509.Certificate) bool {
	if s.name == StoreCA {
		return !stores.IsSelfSigned(c)
	}
	return stores.IsSelfSigned(c)
}
