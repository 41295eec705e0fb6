package agent

import (
	"context"
	"crypto/x509"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/nss/nsstest"
)

// hungStore stands in for a store whose read never returns and ignores
// its context (a read from a hung network mount): nothing in the
// product can make it return, it is released when the test ends.
type hungStore struct {
	release chan struct{}
	once    sync.Once
}

func (s *hungStore) Info() stores.Info {
	return stores.Info{ID: "nss:/mnt/hung/nssdb", Kind: stores.KindNSS, Path: "/mnt/hung/nssdb", Format: "cert9.db", Writable: true}
}
func (s *hungStore) Watch() stores.WatchSpec { return stores.WatchSpec{} }
func (s *hungStore) List(context.Context) ([]stores.Anchor, error) {
	<-s.release
	return nil, nil
}
func (s *hungStore) Install(context.Context, []*x509.Certificate, stores.Options) ([]stores.Change, error) {
	<-s.release
	return nil, nil
}
func (s *hungStore) Remove(context.Context, []string, stores.Options) ([]stores.Change, error) {
	<-s.release
	return nil, nil
}

// Issue 9 item 4 in the agent: a store whose operations hang forever is
// reported as an error once its deadline passes and abandoned. Meanwhile
// the other stores are installed and healed, a store that appears later
// is found and installed, a new policy is applied everywhere else, and
// the agent still stops at once when asked.
func TestAgentAbandonsAHungStore(t *testing.T) {
	sb := newSandbox(t)
	hung := &hungStore{release: make(chan struct{})}
	t.Cleanup(func() { hung.once.Do(func() { close(hung.release) }) })
	discover := func(ctx context.Context, env stores.Env, kinds []stores.Kind) ([]stores.Store, []error) {
		ss, errs := stores.Discover(ctx, env, kinds)
		return append(ss, hung), errs
	}
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	ca := testpki.NewCA(t, "Corp Interception CA").Cert
	coll := startCollector(t)
	coll.upload(signedPolicy(t, 1, signer, key, nil, ca))
	h := startAgentWith(t, sb, coll, signer, agentOpts{discover: discover, storeTimeout: time.Second,
		extra: map[string]any{"rescan_interval": "1s"}}, stores.KindJava, stores.KindNSS)
	fp := stores.SHA256(ca)

	waitFor(t, "the other stores installed", func() bool {
		evs := h.rec.all()
		return countEvents(evs, api.EventInstalled, "java:", fp) == 1 && countEvents(evs, api.EventInstalled, "nss:/etc/pki/nssdb", fp) == 1
	})
	waitFor(t, "the hung store reported as an error", func() bool {
		for _, s := range coll.host().Stores {
			if s.ID == hung.Info().ID {
				return s.Status == stores.StatusError && strings.Contains(s.Detail, stores.ErrTimeout.Error())
			}
		}
		return false
	})

	// Healing goes on.
	nsstest.Run(t, nil, "-D", "-d", "sql:"+sb.root+sb.nssDir, "-n", stores.Label(ca))
	waitFor(t, "the NSS database healed", func() bool {
		return countEvents(coll.events(), api.EventHealed, "nss:/etc/pki/nssdb", fp) == 1
	})
	// Rediscovery goes on: a database made now is found and installed.
	nsstest.ChromiumDB(t, sb.root, "/home/late")
	waitFor(t, "the new database found and installed", func() bool {
		return countEvents(h.rec.all(), api.EventInstalled, "nss:/home/late/", fp) == 1
	})
	// A new policy is applied.
	ca2 := testpki.NewCA(t, "Corp Interception CA 2").Cert
	coll.upload(signedPolicy(t, 2, signer, key, nil, ca, ca2))
	h.poke()
	waitFor(t, "policy 2 installed", func() bool {
		evs := h.rec.all()
		return countEvents(evs, api.EventInstalled, "java:", stores.SHA256(ca2)) == 1 &&
			countEvents(evs, api.EventInstalled, "nss:/etc/pki/nssdb", stores.SHA256(ca2)) == 1
	})
	// And the agent stops when asked, the hung store still hung.
	stopped := make(chan struct{})
	go func() { h.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("the agent did not stop within 30 s while a store hung")
	}
}
