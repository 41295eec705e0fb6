package agent

import (
	"context"
	"crypto/x509"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

// narrowStore is the fake store of distrust_test.go reporting purposes:
// a CA in wide is trusted for every purpose (what another program, or an
// older version, put there); Install narrows it to TLS server auth, as
// the real adapters do (their own tests prove the narrowing with the real
// tools: certutil, trust, crypt32 under Wine).
type narrowStore struct {
	*distrustStore
	wide map[string]bool
}

func (s *narrowStore) List(ctx context.Context) ([]stores.Anchor, error) {
	as, err := s.distrustStore.List(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range as {
		as[i].Purposes = []stores.Purpose{stores.PurposeServerAuth}
		if s.wide[as[i].SHA256] {
			as[i].Purposes = []stores.Purpose{stores.PurposeAny}
		}
	}
	return as, err
}

func (s *narrowStore) Install(ctx context.Context, certs []*x509.Certificate, opt stores.Options) ([]stores.Change, error) {
	var narrow []*x509.Certificate
	var out []stores.Change
	s.mu.Lock()
	for _, c := range certs {
		fp := stores.SHA256(c)
		if s.wide[fp] {
			delete(s.wide, fp)
			out = append(out, stores.Change{SHA256: fp, Action: stores.ActionTrusted})
			continue
		}
		narrow = append(narrow, c)
	}
	s.mu.Unlock()
	rest, err := s.distrustStore.Install(ctx, narrow, opt)
	return append(out, rest...), err
}

func (s *narrowStore) widen(c *x509.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wide[stores.SHA256(c)] = true
}

// TestAgentNarrowsOvertrustedCA: our CA present but trusted for every
// purpose is installed again (narrowed to TLS server auth), reported as
// installed, never as removed; when another program widens it later the
// agent narrows it back (healed) and the store ends compliant.
func TestAgentNarrowsOvertrustedCA(t *testing.T) {
	sb := newSandbox(t)
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	ca := testpki.NewCA(t, "Corp Wide CA").Cert
	fp := stores.SHA256(ca)
	fake := &narrowStore{distrustStore: newDistrustStore(true), wide: map[string]bool{fp: true}}
	fake.trusted[fp] = ca
	coll := startCollector(t)
	coll.upload(signedPolicy(t, 1, signer, key, nil, ca))
	h := startAgentWith(t, sb, coll, signer, agentOpts{extraStores: []stores.Store{fake}}, stores.KindJava)
	waitFor(t, "the overtrusted CA narrowed (installed trusted)", func() bool {
		return eventWith(h.rec.all(), api.EventInstalled, "fake:", fp, "trusted") == 1
	})
	waitFor(t, "the fake store compliant in the agent status", func() bool { return fakeCompliant(h) })

	fake.widen(ca)
	h.poke()
	waitFor(t, "widened again, narrowed again (healed)", func() bool {
		return eventWith(h.rec.all(), api.EventHealed, "fake:", fp, "trusted") == 1
	})
	if n := countEvents(h.rec.all(), api.EventRemoved, "fake:", fp); n != 0 {
		t.Errorf("%d removed events for a CA that never left the store", n)
	}
	waitFor(t, "compliant again", func() bool { return fakeCompliant(h) })
}

// fakeCompliant reports whether the agent's status has the fake store
// compliant with its CA trusted for TLS server auth only.
func fakeCompliant(h *harness) bool {
	st, err := ReadStatus(h.stateDir)
	if err != nil {
		return false
	}
	for _, s := range st.Stores {
		if s.ID == "fake:distruster" {
			return s.Status == stores.StatusCompliant
		}
	}
	return false
}
