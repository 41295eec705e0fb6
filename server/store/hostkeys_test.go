package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/store"
	"github.com/anchorwatch/anchorwatch/stores"
)

// enrollWith writes one enrollment of machine m (hostname name) with the
// given host key, nonce and current node key; it returns the result and
// the new node key.
func enrollWith(t *testing.T, s *store.Store, name, m, hostKey, nonce, current string) (store.EnrollOut, string) {
	t.Helper()
	key := store.NewCredential(store.PrefixNodeKey)
	eo, _, err := s.WriteBatch(context.Background(), []store.EnrollIn{{NodeKey: key, Now: time.Now(), HostKey: hostKey,
		Nonce: nonce, NonceExpires: time.Now().Add(time.Hour), CurrentNodeKey: current,
		Facts: api.HostFacts{Hostname: name, MachineID: m, OS: "linux", IPs: []string{"10.0.0.9"}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return eo[0], key
}

func hostSummary(t *testing.T, s *store.Store, id int64) api.HostSummary {
	t.Helper()
	h, err := s.Host(context.Background(), id, 100)
	if err != nil {
		t.Fatal(err)
	}
	return h.HostSummary
}

func countType(t *testing.T, s *store.Store, id int64, typ api.EventType) int {
	t.Helper()
	h, err := s.Host(context.Background(), id, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range h.Events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// TestHostKeyEnrollment: a machine id is enrolled again onto its host
// only with the host key bound to it (or its current node key); any other
// enrollment of that id makes a new flagged host and leaves the host and
// its node key alone. Nonces are single-use. Revoke, merge and retire
// keep the fleet counters exact.
func TestHostKeyEnrollment(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		first, key1 := enrollWith(t, s, "pc-1", "m-1", "KEY-A", "n1", "")
		if first.Err != nil || first.ConflictOf != 0 || first.Reenrolled {
			t.Fatalf("first enrollment: %+v", first)
		}
		id := first.HostID
		write(t, s, store.ReportIn{HostID: id, Report: fullReport("r1", 1, stores.StatusCompliant, stores.StatusMissing)})
		if h := hostSummary(t, s, id); !h.KeyBound || h.ConflictOf != 0 {
			t.Fatalf("host: %+v", h)
		}

		// The host key: same host, new node key.
		again, key2 := enrollWith(t, s, "pc-1", "m-1", "KEY-A", "n2", "")
		if again.HostID != id || !again.Reenrolled {
			t.Fatalf("with its key: %+v", again)
		}
		if _, err := s.CheckNodeKey(ctx, key1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old node key after a proven re-enrollment: %v", err)
		}
		// A replayed nonce is refused, nothing written.
		if eo, _ := enrollWith(t, s, "pc-1", "m-1", "KEY-A", "n2", ""); !errors.Is(eo.Err, store.ErrProofReplayed) {
			t.Fatalf("replayed nonce: %+v", eo)
		}
		// Another key, or none: a new host, flagged; the host untouched.
		for i, k := range []string{"KEY-B", ""} {
			fl, _ := enrollWith(t, s, "impostor", "m-1", k, "", "")
			if fl.HostID == id || fl.ConflictOf != id || fl.Conflict == "" || fl.Reenrolled {
				t.Fatalf("impostor %d: %+v", i, fl)
			}
			if h := hostSummary(t, s, fl.HostID); h.ConflictOf != id || h.Conflict != fl.Conflict {
				t.Errorf("flagged host: %+v", h)
			}
		}
		if got, err := s.CheckNodeKey(ctx, key2); err != nil || got != id {
			t.Fatalf("the host's node key after the impostors: %d %v", got, err)
		}
		if h := hostSummary(t, s, id); h.Hostname != "pc-1" || h.StoresTotal != 2 {
			t.Errorf("the host changed: %+v", h)
		}
		if n := countType(t, s, id, api.EventEnrollConflict); n != 2 {
			t.Errorf("%d enroll-conflict events on the host, want 2", n)
		}
		// The impostor with KEY-B enrolling again keeps its own flagged host.
		fl2, _ := enrollWith(t, s, "impostor", "m-1", "KEY-B", "", "")
		if !fl2.Reenrolled || fl2.ConflictOf != id {
			t.Errorf("impostor again: %+v", fl2)
		}
		list, err := s.ListHosts(ctx, store.HostFilter{Flagged: true})
		if err != nil || len(list.Hosts) != 2 {
			t.Fatalf("flagged hosts: %+v %v", list, err)
		}
		sum, err := s.Summary(ctx, time.Now(), time.Hour)
		if err != nil || sum.Flagged != 2 || sum.Hosts != 3 {
			t.Fatalf("summary: %+v %v", sum, err)
		}
		checkAggregates(t, s)

		// Revoked node key: the host key brings the host back.
		if err := s.RevokeNodeKey(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CheckNodeKey(ctx, key2); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoked node key: %v", err)
		}
		back, key3 := enrollWith(t, s, "pc-1", "m-1", "KEY-A", "n3", "")
		if back.HostID != id || !back.Reenrolled {
			t.Fatalf("after revocation: %+v", back)
		}

		// A host enrolled before host keys binds its key with its node key.
		legacy, lkey := enrollWith(t, s, "old-1", "m-2", "", "", "")
		if h := hostSummary(t, s, legacy.HostID); h.KeyBound {
			t.Fatal("a host enrolled without a key is bound")
		}
		bind, _ := enrollWith(t, s, "old-1", "m-2", "KEY-C", "n4", lkey)
		if bind.HostID != legacy.HostID || !bind.Reenrolled || !hostSummary(t, s, legacy.HostID).KeyBound {
			t.Fatalf("binding a legacy host: %+v", bind)
		}

		// Re-imaged pc-1 (new key): flagged; the admin merges it.
		img, imgKey := enrollWith(t, s, "pc-1", "m-1", "KEY-D", "n5", "")
		write(t, s, store.ReportIn{HostID: img.HostID, Report: fullReport("i1", 1, stores.StatusCompliant)})
		if _, err := s.MergeHost(ctx, id); !errors.Is(err, store.ErrNotFlagged) {
			t.Errorf("merging an unflagged host: %v", err)
		}
		into, err := s.MergeHost(ctx, img.HostID)
		if err != nil || into != id {
			t.Fatalf("merge: %d %v", into, err)
		}
		if got, err := s.CheckNodeKey(ctx, imgKey); err != nil || got != id {
			t.Errorf("the merged agent's node key: %d %v", got, err)
		}
		if _, err := s.CheckNodeKey(ctx, key3); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the replaced node key: %v", err)
		}
		if _, err := s.Host(ctx, img.HostID, 1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the flagged host after the merge: %v", err)
		}
		if n := countType(t, s, id, api.EventHostMerged); n != 1 {
			t.Errorf("%d host-merged events, want 1", n)
		}
		// The merged host now enrolls with KEY-D.
		if eo, _ := enrollWith(t, s, "pc-1", "m-1", "KEY-D", "n6", ""); eo.HostID != id || !eo.Reenrolled {
			t.Errorf("after the merge, the new key: %+v", eo)
		}
		checkAggregates(t, s)

		// Retire the impostors.
		for _, h := range list.Hosts {
			if err := s.DeleteHost(ctx, h.ID); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DeleteHost(ctx, list.Hosts[0].ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("retiring twice: %v", err)
		}
		sum, _ = s.Summary(ctx, time.Now(), time.Hour)
		if sum.Flagged != 0 || sum.Hosts != 2 {
			t.Errorf("after retiring: %+v", sum)
		}
		checkAggregates(t, s)
		if n, err := s.PruneNonces(ctx, time.Now().Add(2*time.Hour)); err != nil || n != 6 {
			t.Errorf("pruned %d nonces, %v; want 6", n, err)
		}
	})
}
