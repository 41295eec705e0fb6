package agent

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/server"
	"github.com/anchorwatch/anchorwatch/server/servertest"
	"github.com/anchorwatch/anchorwatch/stores"
)

// TestPolicyLongPoll: with heartbeats and rescans an hour apart, an
// agent holding a policy wait at the real collector applies a new upload
// and reports its serial; an agent with policy_long_poll off, beside it,
// does not (it would at its next heartbeat).
func TestPolicyLongPoll(t *testing.T) {
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	ca := testpki.NewCA(t, "Corp Interception CA").Cert
	// HTTP/2, as the collector's own server offers it: the wait is a
	// stream beside the reports.
	coll := &collector{Collector: servertest.StartCollector(t, servertest.Options{HTTP2: true}), t: t}
	slow := map[string]any{"heartbeat_interval": "1h", "rescan_interval": "1h"}
	coll.upload(signedPolicy(t, 1, signer, key, slow, ca))
	off := map[string]any{"policy_long_poll": false}
	for k, v := range slow {
		off[k] = v
	}
	a := startAgentWith(t, newSandbox(t), coll, signer, agentOpts{extra: slow}, stores.KindJava)
	b := startAgentWith(t, newSandbox(t), coll, signer, agentOpts{extra: off}, stores.KindJava)
	// onSerial counts the hosts the collector shows on each serial.
	onSerial := func() map[int64]int {
		var list api.HostList
		coll.get(api.PathHosts, &list)
		m := map[int64]int{}
		for _, h := range list.Hosts {
			m[h.PolicySerial]++
		}
		return m
	}
	held := func(h *harness) int64 {
		st, err := ReadStatus(h.stateDir)
		if err != nil {
			return -1
		}
		return st.PolicySerial
	}
	waitFor(t, "both agents on serial 1", func() bool { return onSerial()[1] == 2 })
	coll.upload(signedPolicy(t, 2, signer, key, slow, ca))
	waitFor(t, "the long-polling agent on serial 2", func() bool { return held(a) == 2 && onSerial()[2] == 1 })
	if s, m := held(b), onSerial(); s != 1 || m[1] != 1 {
		t.Errorf("the agent without the long poll holds serial %d (collector: %v) before its heartbeat, want 1", s, m)
	}
	if n := countEvents(a.rec.all(), api.EventPolicyApplied, "", ""); n != 2 {
		t.Errorf("%d policy_applied events, want 2", n)
	}
}

// TestPolicyWaitFallback: in front of the collector, a proxy answers the
// policy wait itself — 404 as a collector without the endpoint would,
// or 503 with Retry-After as one with too many waiters. The agent falls
// back to its heartbeat (a 2s one here) without hammering the endpoint.
func TestPolicyWaitFallback(t *testing.T) {
	for _, tc := range []struct {
		name     string
		code     int
		maxWaits int64
	}{{"404", http.StatusNotFound, 1}, {"503", http.StatusServiceUnavailable, 6}} {
		t.Run(tc.name, func(t *testing.T) {
			signer, key := testpki.SelfSigned(t, "Policy Signer")
			ca := testpki.NewCA(t, "Corp Interception CA").Cert
			coll := startCollector(t)
			coll.upload(signedPolicy(t, 1, signer, key, nil, ca))
			var waits atomic.Int64
			proxy := frontProxy(t, coll, func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != api.PathPolicyWait {
					return false
				}
				waits.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Retry-After", "3")
				w.WriteHeader(tc.code)
				w.Write([]byte(`{"error":"unavailable","detail":"proxy"}`))
				return true
			})
			logs := &logBuffer{}
			h := startAgentWith(t, newSandbox(t), coll, signer, agentOpts{url: proxy, logs: logs, extra: map[string]any{"heartbeat_interval": "2s"}}, stores.KindJava)
			waitFor(t, "serial 1 and a policy wait", func() bool { return coll.host().PolicySerial == 1 && waits.Load() > 0 })
			coll.upload(signedPolicy(t, 2, signer, key, nil, ca))
			waitFor(t, "serial 2 at a heartbeat", func() bool { return coll.host().PolicySerial == 2 })
			h.stop()
			if n := waits.Load(); n < 1 || n > tc.maxWaits {
				t.Errorf("%d policy waits, want 1 to %d", n, tc.maxWaits)
			}
			if tc.code == http.StatusNotFound && !strings.Contains(logs.String(), "no policy wait") {
				t.Errorf("the fallback is not logged:\n%s", logs)
			}
		})
	}
}

// frontProxy serves the collector's own certificate (the agent's pin
// holds) and forwards to it every request intercept does not answer.
func frontProxy(t *testing.T, coll *collector, intercept func(http.ResponseWriter, *http.Request) bool) string {
	t.Helper()
	u, _ := url.Parse(coll.URL)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = coll.Client().Transport
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !intercept(w, r) {
			rp.ServeHTTP(w, r)
		}
	}))
	tc, err := server.TLSConfig(coll.CertFile, filepath.Join(coll.DataDir, server.SelfSignedKey))
	if err != nil {
		t.Fatal(err)
	}
	hs.TLS = tc
	hs.StartTLS()
	t.Cleanup(hs.Close)
	return hs.URL
}
