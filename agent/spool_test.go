package agent

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

func TestSpool(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	s, err := OpenSpool(dir, 4, 1<<20, log)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(id string) []api.Event { return []api.Event{{ID: id, Type: api.EventRemoved}} }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Add(api.ReportRequest{ReportID: "full-1", Kind: api.ReportFull, NodeKey: "secret"}))
	must(s.Add(api.ReportRequest{ReportID: "ev-1", Kind: api.ReportFull, Events: ev("e1")}))
	// A heartbeat while reports are pending adds nothing.
	must(s.Add(api.ReportRequest{ReportID: "hb", Kind: api.ReportHeartbeat}))
	must(s.Add(api.ReportRequest{ReportID: "full-2", Kind: api.ReportFull}))
	if s.Len() != 2 {
		t.Fatalf("spool holds %d reports, want 2 (full-1 superseded, heartbeat skipped)", s.Len())
	}
	// Reopen: the order and content survive a restart; the node key was
	// never written.
	s, err = OpenSpool(dir, 4, 1<<20, log)
	must(err)
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "secret") {
			t.Errorf("%s holds the node key", f)
		}
		if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f, fi.Mode())
		}
	}
	var got []string
	for {
		it, ok, err := s.Peek()
		must(err)
		if !ok {
			break
		}
		got = append(got, it.Report.ReportID)
		must(s.Done(it))
	}
	if fmt.Sprint(got) != "[ev-1 full-2]" {
		t.Fatalf("delivered %v", got)
	}
	// Bounds: event reports beyond 4 drop the oldest, counted.
	for i := range 6 {
		must(s.Add(api.ReportRequest{ReportID: fmt.Sprint("r", i), Kind: api.ReportFull, Events: ev(fmt.Sprint("x", i))}))
	}
	if s.Len() != 4 || s.Dropped() != 2 {
		t.Fatalf("len %d dropped %d, want 4 and 2", s.Len(), s.Dropped())
	}
	it, _, _ := s.Peek()
	if it.Report.ReportID != "r2" {
		t.Errorf("oldest kept is %s, want r2", it.Report.ReportID)
	}
	// A corrupt file is removed, not fatal.
	os.WriteFile(filepath.Join(dir, it.Name), []byte("{garbage"), 0o600)
	it2, ok, err := s.Peek()
	if err != nil || !ok || it2.Report.ReportID != "r3" {
		t.Fatalf("after a corrupt file: %v %v %v", it2.Report.ReportID, ok, err)
	}
}

// TestAgentOfflineSpool keeps the real collector unreachable (a TCP
// proxy in front of it cuts every connection: the one stand-in, for the
// outage) while drift happens, brings it back, and finds every event
// stored once through the collector's events API.
func TestAgentOfflineSpool(t *testing.T) {
	sb := newSandbox(t)
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	ca := testpki.NewCA(t, "Corp Interception CA").Cert
	coll := startCollector(t)
	coll.upload(signedPolicy(t, 1, signer, key, nil, ca))
	proxy := newCutProxy(t, coll.URL)
	h := startAgentWith(t, sb, coll, signer, agentOpts{url: proxy.URL()}, stores.KindJava)
	fp, label := stores.SHA256(ca), stores.Label(ca)
	waitFor(t, "install reported", func() bool {
		return countEvents(coll.events(), api.EventInstalled, "java:", fp) == 1
	})

	proxy.setDown(true)
	for i := 1; i <= 3; i++ {
		out, err := exec.Command(sb.keytool, "-delete", "-keystore", sb.javaKS, "-storepass", "changeit", "-alias", label).CombinedOutput()
		if err != nil {
			t.Fatalf("keytool -delete: %v\n%s", err, out)
		}
		waitFor(t, fmt.Sprintf("heal %d", i), func() bool {
			return countEvents(h.rec.all(), api.EventHealed, "java:", fp) == i
		})
	}
	if n := countEvents(coll.events(), api.EventRemoved, "", ""); n != 0 {
		t.Fatalf("the collector got %d removed events while unreachable", n)
	}
	waitFor(t, "reports spooled", func() bool {
		n, _ := os.ReadDir(filepath.Join(h.stateDir, dirSpool))
		return len(n) > 0
	})
	if st, err := ReadStatus(h.stateDir); err != nil || st.SpoolPending == 0 {
		t.Errorf("status while offline: %+v, %v", st, err)
	}

	proxy.setDown(false)
	h.poke()
	waitFor(t, "every event delivered", func() bool {
		n := map[string]bool{}
		for _, e := range coll.events() {
			n[e.ID] = true
		}
		for _, e := range h.rec.all() {
			if !n[e.ID] {
				return false
			}
		}
		return true
	})
	evs := coll.events()
	storedOnce(t, h.rec.all(), evs)
	if countEvents(evs, api.EventRemoved, "java:", fp) != 3 || countEvents(evs, api.EventHealed, "java:", fp) != 3 {
		t.Errorf("collector has %d removed / %d healed, want 3 / 3",
			countEvents(evs, api.EventRemoved, "java:", fp), countEvents(evs, api.EventHealed, "java:", fp))
	}
	waitFor(t, "spool drained", func() bool {
		n, _ := os.ReadDir(filepath.Join(h.stateDir, dirSpool))
		return len(n) == 0
	})
	waitFor(t, "the dashboard shows the host compliant", func() bool { return allCompliant(coll.host(), 1) })
}
