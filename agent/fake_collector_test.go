package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/anchorwatch/anchorwatch/server/api"
)

// fakeCollector speaks the agent API of server/api/types.go over TLS: it
// enrolls, stores reports once per report id, and serves a policy blob.
// With down set it drops every connection, as an unreachable collector.
type fakeCollector struct {
	srv *httptest.Server

	mu        sync.Mutex
	down      bool
	policy    []byte
	serial    int64
	nodeKeys  map[string]bool
	reports   map[string]api.ReportRequest
	order     []string
	eventSeen map[string]int // event id -> times stored (must stay 1)
	events    []api.Event
	enrolls   int
	secret    string
}

func newFakeCollector(t testing.TB, secret string) *fakeCollector {
	f := &fakeCollector{secret: secret, nodeKeys: map[string]bool{}, reports: map[string]api.ReportRequest{}, eventSeen: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.PathEnroll, f.enroll)
	mux.HandleFunc("POST "+api.PathReport, f.report)
	mux.HandleFunc("GET "+api.PathPolicy, f.getPolicy)
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		down := f.down
		f.mu.Unlock()
		if down {
			if hj, ok := w.(http.Hijacker); ok {
				c, _, _ := hj.Hijack()
				c.Close()
				return
			}
		}
		mux.ServeHTTP(w, r)
	}))
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

// fingerprint is the SHA-256 of the server certificate, for pinning.
func (f *fakeCollector) fingerprint() string {
	sum := sha256.Sum256(f.srv.Certificate().Raw)
	return hex.EncodeToString(sum[:])
}

func (f *fakeCollector) setDown(d bool) {
	f.mu.Lock()
	f.down = d
	f.mu.Unlock()
	if d {
		f.srv.CloseClientConnections()
	}
}

func (f *fakeCollector) setPolicy(blob []byte, serial int64) {
	f.mu.Lock()
	f.policy, f.serial = blob, serial
	f.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeCollector) enroll(w http.ResponseWriter, r *http.Request) {
	var req api.EnrollRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, api.MaxBodyBytes)).Decode(&req); err != nil {
		writeJSON(w, 400, api.ErrorResponse{Error: api.ErrBadRequest})
		return
	}
	if req.EnrollSecret != f.secret {
		writeJSON(w, 401, api.ErrorResponse{Error: api.ErrSecretInvalid})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.enrolls++
	key := "awn_test" + strings.Repeat("x", f.enrolls)
	f.nodeKeys[key] = true
	writeJSON(w, 200, api.EnrollResponse{NodeKey: key, HostID: 1})
}

func (f *fakeCollector) report(w http.ResponseWriter, r *http.Request) {
	var req api.ReportRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, api.MaxBodyBytes)).Decode(&req); err != nil {
		writeJSON(w, 400, api.ErrorResponse{Error: api.ErrBadRequest})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.nodeKeys[req.NodeKey] {
		writeJSON(w, 401, api.ErrorResponse{Error: api.ErrNodeInvalid})
		return
	}
	if _, dup := f.reports[req.ReportID]; dup {
		writeJSON(w, 200, api.ReportResponse{Status: "ok", Duplicate: true, PolicySerial: f.serial})
		return
	}
	f.reports[req.ReportID] = req
	f.order = append(f.order, req.ReportID)
	for _, e := range req.Events {
		f.eventSeen[e.ID]++
		f.events = append(f.events, e)
	}
	writeJSON(w, 200, api.ReportResponse{Status: "ok", PolicySerial: f.serial})
}

func (f *fakeCollector) getPolicy(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.nodeKeys[key] {
		writeJSON(w, 401, api.ErrorResponse{Error: api.ErrNodeInvalid})
		return
	}
	if f.policy == nil {
		writeJSON(w, 404, api.ErrorResponse{Error: api.ErrNotFound})
		return
	}
	w.Header().Set("Content-Type", "application/pkcs7-mime")
	_, _ = w.Write(f.policy)
}

// received returns the stored events and how often each id was stored.
func (f *fakeCollector) received() ([]api.Event, map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := map[string]int{}
	for k, v := range f.eventSeen {
		seen[k] = v
	}
	return append([]api.Event(nil), f.events...), seen
}

func (f *fakeCollector) lastReport() (api.ReportRequest, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.order) == 0 {
		return api.ReportRequest{}, 0
	}
	return f.reports[f.order[len(f.order)-1]], len(f.order)
}
