package agent

import (
	"context"
	"crypto/x509"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/stores"
)

func fps(certs []*x509.Certificate) []string {
	var out []string
	for _, c := range certs {
		out = append(out, stores.SHA256(c))
	}
	return out
}

// TestPlanDistrust covers every decision planDistrust makes, for a store
// that can distrust and one that cannot.
func TestPlanDistrust(t *testing.T) {
	leaked := testpki.NewCA(t, "Leaked CA")
	reissued := testpki.NewCA(t, "Leaked CA reissued", testpki.Key(leaked.Key)).Cert
	byHash := testpki.NewCA(t, "Public CA").Cert
	absent := testpki.NewCA(t, "Retired CA").Cert
	dropped := testpki.NewCA(t, "Formerly distrusted").Cert
	theirs := testpki.NewCA(t, "Microsoft-shipped distrust").Cert
	ours := testpki.NewCA(t, "Corp CA").Cert
	targets := []policy.DistrustTarget{
		{SHA256: stores.SHA256(leaked.Cert), SPKI: stores.SPKIHash(leaked.Cert), Cert: leaked.Cert, Reason: "leak", Source: "distrust[0]"},
		{SHA256: stores.SHA256(byHash), Reason: "not accepted", Source: "distrust[1]"},
		{SHA256: stores.SHA256(absent), Cert: absent, Reason: "retired", Source: "distrust[2]"},
	}
	an := func(c *x509.Certificate, trusted bool) stores.Anchor { return stores.NewAnchor(c, "", trusted) }
	held := []stores.Anchor{an(ours, true), an(leaked.Cert, true), an(reissued, true), an(byHash, false)}

	t.Run("distruster", func(t *testing.T) {
		p := planDistrust(targets, distrustView{anchors: held, canDistrust: true, writable: true,
			distrusted: []stores.Anchor{an(byHash, false), an(dropped, false), an(theirs, false)},
			ours:       map[string]bool{stores.SHA256(dropped): true, stores.SHA256(byHash): true}})
		// The leaked CA and the re-issue of its key (trusted), the retired
		// CA in advance; the public CA is already refused and untrusted.
		if got, want := fps(p.distrust), fps([]*x509.Certificate{leaked.Cert, reissued, absent}); !slices.Equal(got, want) {
			t.Errorf("distrust %v, want %v", got, want)
		}
		// Only our own record the policy dropped; never Microsoft's.
		if !slices.Equal(p.undistrust, []string{stores.SHA256(dropped)}) {
			t.Errorf("undistrust %v", p.undistrust)
		}
		if len(p.remove)+len(p.left) != 0 {
			t.Errorf("remove %v left %v", p.remove, p.left)
		}
		if p.why[stores.SHA256(reissued)].Source != "distrust[0]" {
			t.Errorf("the re-issue is distrusted for %+v", p.why[stores.SHA256(reissued)])
		}
	})
	t.Run("distruster, trusted again", func(t *testing.T) {
		// A user re-trusted the public CA the store already refused.
		p := planDistrust(targets[1:2], distrustView{anchors: []stores.Anchor{an(byHash, true)}, canDistrust: true, writable: true,
			distrusted: []stores.Anchor{an(byHash, false)}})
		if !slices.Equal(fps(p.distrust), []string{stores.SHA256(byHash)}) {
			t.Errorf("distrust %v", fps(p.distrust))
		}
	})
	t.Run("distruster, hash only and no certificate", func(t *testing.T) {
		a := an(byHash, true)
		a.Cert = nil
		p := planDistrust(targets[1:2], distrustView{anchors: []stores.Anchor{a}, canDistrust: true, writable: true})
		if len(p.distrust) != 0 || len(p.left) != 1 || !strings.Contains(p.left[0], "did not return the certificate") {
			t.Errorf("distrust %v left %v", p.distrust, p.left)
		}
	})
	t.Run("cannot distrust", func(t *testing.T) {
		vendor := an(byHash, true)
		vendor.Vendor = true
		gpo := an(reissued, true)
		gpo.ManagedBy = "gpo"
		p := planDistrust(targets, distrustView{anchors: []stores.Anchor{an(ours, true), an(leaked.Cert, true), gpo, vendor}, writable: true})
		if !slices.Equal(p.remove, []string{stores.SHA256(leaked.Cert), stores.SHA256(byHash)}) {
			t.Errorf("remove %v", p.remove)
		}
		if len(p.distrust)+len(p.undistrust) != 0 || len(p.left) != 1 || !strings.Contains(p.left[0], "gpo owns the entry") {
			t.Errorf("distrust %v undistrust %v left %v", p.distrust, p.undistrust, p.left)
		}
	})
	t.Run("read-only", func(t *testing.T) {
		for _, can := range []bool{true, false} {
			p := planDistrust(targets, distrustView{anchors: held, canDistrust: can, ours: map[string]bool{stores.SHA256(dropped): true},
				distrusted: []stores.Anchor{an(dropped, false)}})
			if len(p.distrust)+len(p.undistrust)+len(p.remove) != 0 || len(p.left) != 2 || !strings.Contains(p.left[0], "read-only") {
				t.Errorf("can=%v: distrust %v undistrust %v remove %v left %v", can, p.distrust, p.undistrust, p.remove, p.left)
			}
		}
	})
	t.Run("status", func(t *testing.T) {
		res := stores.Result{Status: stores.StatusCompliant, Detail: "1 of 1 CA(s) present and trusted"}
		markDistrustedPresent(&res, targets, held, stores.Info{})
		if res.Status != stores.StatusDistrustedPresent || !strings.Contains(res.Detail, `"Leaked CA reissued"`) || !strings.Contains(res.Detail, "read-only") {
			t.Errorf("status %s: %s", res.Status, res.Detail)
		}
		res = stores.Result{Status: stores.StatusCompliant}
		markDistrustedPresent(&res, targets, []stores.Anchor{an(ours, true), an(byHash, false)}, stores.Info{Writable: true})
		if res.Status != stores.StatusCompliant {
			t.Errorf("untrusted copies only: %s", res.Status)
		}
	})
}

// distrustStore is a FAKE store implementing stores.Distruster: the real
// adapters (Windows Disallowed, NSS explicit distrust, p11-kit
// blocklist, Debian "!", macOS deny settings) implement the contract in
// a later change; until then this stand-in lets the agent's distrust
// path run end to end beside the real Java keystore (which cannot
// distrust, so the CA is removed there). It keeps trusted certificates
// and distrust records in memory, as such a store would.
type distrustStore struct {
	mu         sync.Mutex
	info       stores.Info
	trusted    map[string]*x509.Certificate
	distrusted map[string]*x509.Certificate
	calls      []string
}

func newDistrustStore(writable bool) *distrustStore {
	return &distrustStore{info: stores.Info{ID: "fake:distruster", Kind: stores.KindWindows, Path: "fake", Format: "fake", Writable: writable},
		trusted: map[string]*x509.Certificate{}, distrusted: map[string]*x509.Certificate{}}
}

func (s *distrustStore) Info() stores.Info { return s.info }

func (s *distrustStore) List(context.Context) ([]stores.Anchor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []stores.Anchor
	for fp, c := range s.trusted {
		out = append(out, stores.NewAnchor(c, "", s.distrusted[fp] == nil))
	}
	return out, nil
}

// change runs fn for every certificate under the lock and returns the
// changes it names.
func (s *distrustStore) change(fps []string, fn func(fp string) string) []stores.Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ch []stores.Change
	for _, fp := range fps {
		ch = append(ch, stores.Change{SHA256: fp, Action: fn(fp)})
	}
	return ch
}

func byFP(certs []*x509.Certificate) ([]string, map[string]*x509.Certificate) {
	m := map[string]*x509.Certificate{}
	for _, c := range certs {
		m[stores.SHA256(c)] = c
	}
	return fps(certs), m
}

func (s *distrustStore) Install(_ context.Context, certs []*x509.Certificate, _ stores.Options) ([]stores.Change, error) {
	list, m := byFP(certs)
	return s.change(list, func(fp string) string {
		if s.trusted[fp] != nil {
			return stores.ActionUnchanged
		}
		s.trusted[fp] = m[fp]
		return stores.ActionAdded
	}), nil
}

func (s *distrustStore) Remove(_ context.Context, list []string, _ stores.Options) ([]stores.Change, error) {
	return s.change(list, func(fp string) string {
		if s.trusted[fp] == nil {
			return stores.ActionUnchanged
		}
		delete(s.trusted, fp)
		return stores.ActionRemoved
	}), nil
}

func (s *distrustStore) Watch() stores.WatchSpec { return stores.WatchSpec{} }

// Distrust takes the certificate out of the trusted entries and records
// it, as Windows moves it to Disallowed.
func (s *distrustStore) Distrust(_ context.Context, certs []*x509.Certificate, _ stores.Options) ([]stores.Change, error) {
	list, m := byFP(certs)
	return s.change(list, func(fp string) string {
		s.calls = append(s.calls, "distrust "+m[fp].Subject.CommonName)
		act := stores.ActionUnchanged
		if s.distrusted[fp] == nil || s.trusted[fp] != nil {
			act = stores.ActionDistrusted
		}
		delete(s.trusted, fp)
		s.distrusted[fp] = m[fp]
		return act
	}), nil
}

func (s *distrustStore) Undistrust(_ context.Context, list []string, _ stores.Options) ([]stores.Change, error) {
	return s.change(list, func(fp string) string {
		s.calls = append(s.calls, "undistrust "+fp[:8])
		if s.distrusted[fp] == nil {
			return stores.ActionUnchanged
		}
		delete(s.distrusted, fp)
		return stores.ActionUndistrusted
	}), nil
}

func (s *distrustStore) Distrusted(context.Context) ([]stores.Anchor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []stores.Anchor
	for _, c := range s.distrusted {
		out = append(out, stores.NewAnchor(c, "", false))
	}
	return out, nil
}

// retrust is a user or program trusting c again, overriding the store's
// distrust (a copy added back to ROOT beside the Disallowed record).
func (s *distrustStore) retrust(c *x509.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fp := stores.SHA256(c)
	s.trusted[fp] = c
	delete(s.distrusted, fp)
}

func (s *distrustStore) state(c *x509.Certificate) (trusted, distrusted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fp := stores.SHA256(c)
	return s.trusted[fp] != nil, s.distrusted[fp] != nil
}

func eventWith(evs []api.Event, typ api.EventType, storePrefix, fp, text string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ && strings.HasPrefix(e.StoreID, storePrefix) && e.SHA256 == fp && strings.Contains(e.Detail, text) {
			n++
		}
	}
	return n
}

// TestAgentDistrustsALeakedCA: the emergency of docs/policy.md. Serial 1
// trusts OLD; serial 2, written by policy.Rotate, trusts NEW and
// distrusts OLD. The agent removes OLD from the real JKS (Java cannot
// distrust; reported as such) and distrusts it in a store that can (the
// fake Distruster above); a copy a user adds back is removed, or
// distrusted, again; a later policy that drops the distrust takes out our
// record. The whole run goes through the real collector.
func TestAgentDistrustsALeakedCA(t *testing.T) {
	sb := newSandbox(t)
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	old := testpki.NewCA(t, "Corp Interception CA 1").Cert
	next := testpki.NewCA(t, "Corp Interception CA 2").Cert
	fake := newDistrustStore(true)
	coll := startCollector(t)
	coll.upload(signedPolicy(t, 1, signer, key, nil, old))
	h := startAgentWith(t, sb, coll, signer, agentOpts{extraStores: []stores.Store{fake}}, stores.KindJava)
	oldFP, newFP := stores.SHA256(old), stores.SHA256(next)
	waitFor(t, "OLD installed in java and the fake store", func() bool {
		evs := h.rec.all()
		return countEvents(evs, api.EventInstalled, "java:", oldFP) == 1 && countEvents(evs, api.EventInstalled, "fake:", oldFP) == 1
	})

	// The key leaks: rotate, sign, upload.
	cur, err := policy.Parse(mustContent(t, signedPolicy(t, 1, signer, key, nil, old)))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := policy.Rotate(cur, policy.RotateOptions{From: old, To: next})
	if err != nil {
		t.Fatal(err)
	}
	blob, err := policy.Sign(doc, signer, key)
	if err != nil {
		t.Fatal(err)
	}
	coll.upload(blob)
	h.poke()
	waitFor(t, "OLD removed from java, distrusted in the fake store, NEW installed in both", func() bool {
		evs := h.rec.all()
		return eventWith(evs, api.EventRemovedByPol, "java:", oldFP, "cannot express distrust") == 1 &&
			eventWith(evs, api.EventDistrusted, "fake:", oldFP, "distrust[0]: compromised") == 1 &&
			countEvents(evs, api.EventInstalled, "java:", newFP) == 1 && countEvents(evs, api.EventInstalled, "fake:", newFP) == 1
	})
	if javaHas(t, sb, stores.Label(old)) || !javaHas(t, sb, stores.Label(next)) {
		t.Fatal("keytool: the JKS must hold NEW and not OLD")
	}
	if tr, dis := fake.state(old); tr || !dis {
		t.Fatalf("fake store: OLD trusted=%v distrusted=%v", tr, dis)
	}
	waitFor(t, "the collector shows the host compliant at serial 2", func() bool { return allCompliant(coll.host(), 2) })

	// A user puts OLD back: keytool -importcert into the JKS, and a
	// re-trust in the other store. Both are undone.
	pemFile := testpki.WritePEM(t, filepath.Join(t.TempDir(), "old.pem"), old)
	if out, err := exec.Command(sb.keytool, "-importcert", "-noprompt", "-keystore", sb.javaKS, "-storepass", "changeit",
		"-alias", "user-added", "-file", pemFile).CombinedOutput(); err != nil {
		t.Fatalf("keytool -importcert: %v\n%s", err, out)
	}
	fake.retrust(old)
	h.poke()
	waitFor(t, "OLD removed and distrusted again", func() bool {
		evs := h.rec.all()
		return eventWith(evs, api.EventRemovedByPol, "java:", oldFP, "added back") == 1 &&
			eventWith(evs, api.EventDistrusted, "fake:", oldFP, "added back or trusted again") == 1
	})
	if javaHas(t, sb, "user-added") {
		t.Fatal("the copy a user added back stayed in the JKS")
	}

	// The distrust was a mistake: serial 3 drops it. Our record goes; no
	// trust comes back by itself.
	coll.upload(signedPolicy(t, 3, signer, key, nil, next))
	h.poke()
	waitFor(t, "our distrust record taken out", func() bool { return countEvents(h.rec.all(), api.EventUndistrusted, "fake:", oldFP) == 1 })
	if tr, dis := fake.state(old); tr || dis {
		t.Fatalf("after undistrust: OLD trusted=%v distrusted=%v", tr, dis)
	}
	st, err := ReadStatus(h.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Stores {
		if s.Status != stores.StatusCompliant {
			t.Errorf("store %s: %s %s", s.ID, s.Status, s.Detail)
		}
	}
}

// TestAgentReportsDistrustedPresent: a read-only store that still trusts
// a distrusted CA is reported as distrusted-present (agent status; the
// fake Distruster stands in for a store the agent cannot write).
func TestAgentReportsDistrustedPresent(t *testing.T) {
	sb := newSandbox(t)
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	leaked := testpki.NewCA(t, "Leaked CA").Cert
	ca := testpki.NewCA(t, "Corp CA").Cert
	fake := newDistrustStore(false)
	fake.trusted[stores.SHA256(leaked)] = leaked
	fake.trusted[stores.SHA256(ca)] = ca
	coll := startCollector(t)
	coll.upload(signedPolicy(t, 1, signer, key, map[string]any{"distrust": []any{map[string]any{"pem": string(testpki.PEM(leaked)), "reason": "key leaked"}}}, ca))
	h := startAgentWith(t, sb, coll, signer, agentOpts{extraStores: []stores.Store{fake}}, stores.KindJava)
	waitFor(t, "distrusted-present in the agent status", func() bool {
		st, err := ReadStatus(h.stateDir)
		if err != nil {
			return false
		}
		for _, s := range st.Stores {
			if s.ID == "fake:distruster" && s.Status == stores.StatusDistrustedPresent && strings.Contains(s.Detail, `"Leaked CA"`) &&
				strings.Contains(s.Detail, "read-only") {
				return true
			}
		}
		return false
	})
	if len(fake.calls) != 0 {
		t.Errorf("the agent wrote to a read-only store: %v", fake.calls)
	}
}

func mustContent(t testing.TB, blob []byte) []byte {
	t.Helper()
	c, _, err := policy.Content(blob)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
