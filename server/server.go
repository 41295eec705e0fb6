package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/db"
	"github.com/anchorwatch/anchorwatch/server/throttle"
)

// Config configures a collector.
type Config struct {
	// Store is the database; required. The caller closes it after Close.
	Store *db.Store
	// Logger receives request errors and writer events; default slog.Default().
	Logger *slog.Logger
	// UI, when set, is served at "/" (the web dashboard); /api/ and
	// /metrics stay the collector's. The UI's own pages call the dashboard
	// API with a token; Authenticate lets the UI check one itself.
	UI http.Handler
	// MetricsPublic serves /metrics without a token.
	MetricsPublic bool
	// MaxBatch caps reports and enrollments per transaction (default 1000).
	MaxBatch int
	// BatchWait is how long the writer waits for more work while a batch
	// is small (default 2ms; negative: none, take whatever queued during
	// the last commit). A transaction has a fixed cost (its statements,
	// the WAL writes, the fsync): a few more reports per transaction cut
	// the CPU per report by a fifth near saturation, for 2 ms of latency.
	BatchWait time.Duration
	// ReportRetention is how long report ids are kept for idempotency
	// (default 30 days).
	ReportRetention time.Duration
	// OfflineAfter is the default threshold of the summary's offline count
	// (default 24h; ?offline_after= overrides it).
	OfflineAfter time.Duration
	// StaleAfter: an active host not seen for this long is stale (the
	// summary's count, the host's flag; default 7 days). RetireAfter: one
	// not seen for this long is retired automatically (default 30 days;
	// negative: never). See lifecycle.go.
	StaleAfter, RetireAfter time.Duration
	// EventRetention and SnapshotRetention are how long events (by the
	// time the collector received them) and hourly compliance snapshots
	// are kept (defaults 365 and 400 days; negative: for ever).
	EventRetention, SnapshotRetention time.Duration
	// MaintenanceInterval is how often retention and automatic retirement
	// run (default 1h); PruneBatch rows are deleted per transaction
	// (default 1000), with PrunePause between two (default 20ms), so
	// that pruning never holds the database for long.
	MaintenanceInterval time.Duration
	PruneBatch          int
	PrunePause          time.Duration
	// ErrorLogInterval: a repeated error (the database unavailable) is
	// logged at most once per interval, with a count (default 10s).
	ErrorLogInterval time.Duration
	// PKIProbeInterval is how often every CA of the served policy is
	// checked (lint, CRLs, OCSP; pkihealth.go); 0 means 15 minutes, a
	// negative value turns the probe off.
	PKIProbeInterval time.Duration
	// Limiter throttles failed authentications (bearer tokens, session
	// cookies, enroll secrets); share it with the web dashboard's sign-in
	// (web.Options.Limiter). Default: a limiter of its own.
	Limiter *throttle.Limiter
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client, for throttling by source address.
	TrustedProxies []netip.Prefix
	// MaxPolicyWaiters caps the agents holding a policy wait open at
	// once (default 20000); past it they are answered 503 with
	// Retry-After and fetch the policy at their heartbeat.
	MaxPolicyWaiters int
	// PolicyWakeRate paces the wake-ups of a publish: at most this many
	// waiters a second go fetch the policy (default 2000), and none while
	// the writer is behind (policywait.go).
	PolicyWakeRate float64
	// PolicyPollInterval is how often the served serial is read from the
	// database, so a publish on another collector wakes this one's
	// waiters (default 1s).
	PolicyPollInterval time.Duration
	// PolicyWaitHold is about how long a policy wait is held without a
	// newer serial before its 204 (default api.PolicyWaitMax; each is
	// held 5/6 to 7/6 of it).
	PolicyWaitHold time.Duration
}

// Server is the collector's HTTP handler. It is safe for concurrent use.
type Server struct {
	cfg  Config
	st   *db.Store
	log  *slog.Logger
	errs *errLog // repeated errors, rate limited
	m    *metrics
	w    *writer
	lim  *throttle.Limiter
	mux  *http.ServeMux
	dev  *deviceAPI    // the unmanaged-device endpoints (devices.go)
	pub  *publisher    // the served serial, to policy waits (policywait.go)
	roll rollout       // the served serial's rollout (rollout.go)
	wake chan struct{} // a woken waiter's turn (paceWakes)

	serialAt atomic.Int64 // unix ms of the cached serial below
	serial   atomic.Int64
	// busy admits a bounded number of requests to decoding at once, so
	// the group-commit writer is not starved of CPU by a crowd of decoders.
	busy      chan struct{}
	closeOnce sync.Once
	drainOnce sync.Once
	draining  chan struct{} // closed by Drain (policywait.go)
	stop      chan struct{}
	bg        sync.WaitGroup
}

// New builds a collector over cfg.Store and starts its writer. Call Close.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: Config.Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1000
	}
	if cfg.ReportRetention <= 0 {
		cfg.ReportRetention = 30 * 24 * time.Hour
	}
	if cfg.OfflineAfter <= 0 {
		cfg.OfflineAfter = 24 * time.Hour
	}
	cfg.lifecycleDefaults() // lifecycle.go
	switch {
	case cfg.BatchWait == 0:
		cfg.BatchWait = 2 * time.Millisecond
	case cfg.BatchWait < 0:
		cfg.BatchWait = 0
	}
	if cfg.Limiter == nil {
		cfg.Limiter = throttle.New(throttle.Options{})
	}
	if cfg.MaxPolicyWaiters <= 0 {
		cfg.MaxPolicyWaiters = 20000
	}
	if cfg.PolicyWakeRate <= 0 {
		cfg.PolicyWakeRate = 2000
	}
	if cfg.PolicyWaitHold <= 0 || cfg.PolicyWaitHold > api.PolicyWaitMax {
		cfg.PolicyWaitHold = api.PolicyWaitMax
	}
	if cfg.PolicyPollInterval <= 0 {
		cfg.PolicyPollInterval = time.Second
	}
	s := &Server{cfg: cfg, st: cfg.Store, log: cfg.Logger, errs: newErrLog(cfg.Logger, cfg.ErrorLogInterval), stop: make(chan struct{}),
		lim: cfg.Limiter, busy: make(chan struct{}, 2*runtime.GOMAXPROCS(0)), pub: newPublisher(),
		wake: make(chan struct{}), draining: make(chan struct{})}
	s.m = newMetrics(s)
	s.w = newWriter(s.st, s.errs, s.m, cfg.MaxBatch, cfg.BatchWait)
	s.routes()
	s.bg.Add(3)
	go s.housekeeping()
	go s.watchPolicy() // policywait.go
	go s.paceWakes()
	return s, nil
}

// Close stops accepting writes, commits what is queued and stops
// background work. It does not close the store.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.Drain()
		close(s.stop)
		s.w.close()
		s.bg.Wait()
	})
	return nil
}

func (s *Server) routes() {
	mux := http.NewServeMux()
	h := func(pattern, route string, fn http.HandlerFunc) {
		mux.Handle(pattern, s.instrument(route, fn))
	}
	// Agent API.
	h("POST "+api.PathEnroll, "enroll", s.handleEnroll)
	h("POST "+api.PathReport, "report", s.handleReport)
	h("GET "+api.PathPolicy, "policy", s.handlePolicyGet)
	h("POST "+api.PathPolicy, "policy", s.handlePolicyPost)
	h("PUT "+api.PathPolicy, "policy_upload", s.role(db.RoleAdmin, s.handlePolicyPut))
	h("GET "+api.PathPolicyWait, "policy_wait", s.handlePolicyWait)
	h("GET "+api.PathRollout, "rollout", s.role(db.RoleViewer, s.handleRollout))
	// Dashboard API.
	h("GET "+api.PathWhoAmI, "whoami", s.role(db.RoleViewer, s.handleWhoAmI))
	h("GET "+api.PathSummary, "summary", s.role(db.RoleViewer, s.handleSummary))
	h("GET "+api.PathHosts, "hosts", s.role(db.RoleViewer, s.handleHosts))
	h("GET "+api.PathHostsCSV, "hosts_csv", s.role(db.RoleViewer, s.handleHostsCSV))
	h("GET "+api.PathHosts+"/{id}", "host", s.role(db.RoleViewer, s.handleHost))
	h("GET "+api.PathEvents, "events", s.role(db.RoleViewer, s.handleEvents))
	h("GET "+api.PathCAs, "cas", s.role(db.RoleViewer, s.handleCAs))
	h("GET "+api.PathRoots, "roots", s.role(db.RoleViewer, s.handleRoots))
	h("GET "+api.PathTrend, "trend", s.role(db.RoleViewer, s.handleTrend))
	// Admin API.
	h("GET "+api.PathSecrets, "secrets", s.role(db.RoleAdmin, s.handleSecretList))
	h("POST "+api.PathSecrets, "secrets", s.role(db.RoleAdmin, s.handleSecretAdd))
	h("DELETE "+api.PathSecrets+"/{name}", "secrets", s.role(db.RoleAdmin, s.handleSecretRevoke))
	h("GET "+api.PathTokens, "tokens", s.role(db.RoleAdmin, s.handleTokenList))
	h("POST "+api.PathTokens, "tokens", s.role(db.RoleAdmin, s.handleTokenAdd))
	h("DELETE "+api.PathTokens+"/{name}", "tokens", s.role(db.RoleAdmin, s.handleTokenRevoke))
	// Host lifecycle: an admin token, or an admin's dashboard session
	// with its anti-forgery header (auth.go).
	h("POST "+api.PathHosts+"/{id}/revoke-node-key", "host_admin", s.sessionAdmin(s.handleHostRevokeKey))
	h("POST "+api.PathHosts+"/{id}/merge", "host_admin", s.sessionAdmin(s.handleHostMerge))
	h("POST "+api.PathHosts+"/{id}/retire", "host_admin", s.sessionAdmin(s.handleHostRetire))
	h("DELETE "+api.PathHosts+"/{id}", "host_admin", s.sessionAdmin(s.handleHostDelete))
	// Metrics.
	metricsH := promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{})
	if s.cfg.MetricsPublic {
		h("GET /metrics", "metrics", metricsH.ServeHTTP)
	} else {
		h("GET /metrics", "metrics", s.role(db.RoleViewer, metricsH.ServeHTTP))
	}
	s.deviceRoutes(h) // unmanaged devices, exemptions, observations (devices.go)
	s.startPKI(h)     // CA checks, reachability (pkihealth.go)
	h("/api/", "unknown", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, api.ErrNotFound, "no such API endpoint: see docs/collector.md")
	})
	if s.cfg.UI != nil {
		mux.Handle("/", s.cfg.UI)
	} else {
		h("/", "unknown", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, api.ErrNotFound, "this collector serves no web dashboard; the API is under /api/v1/")
		})
	}
	s.mux = mux
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// statusWriter records the status code for metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument counts requests and turns a panic into a logged 500 (the
// handlers are written and fuzzed not to panic; this is the last guard).
func (s *Server) instrument(route string, fn http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic in handler", "route", route, "panic", v, "stack", string(debug.Stack()))
				if sw.code == 0 {
					writeError(sw, http.StatusInternalServerError, api.ErrInternal, "internal error")
				}
			}
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			s.m.requests.WithLabelValues(route, fmt.Sprint(code)).Inc()
		}()
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fn(sw, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, errCode, detail string) {
	writeJSON(w, code, api.ErrorResponse{Error: errCode, Detail: detail})
}

// currentSerial returns the served policy serial, read from the database
// at most once a second (it only hints agents to fetch the policy).
func (s *Server) currentSerial(ctx context.Context) int64 {
	now := time.Now().UnixMilli()
	if now-s.serialAt.Load() < 1000 {
		return s.serial.Load()
	}
	v, err := s.st.CurrentPolicySerial(ctx)
	if err != nil {
		s.errs.failed(slog.LevelWarn, "read policy serial", err)
		return s.serial.Load()
	}
	s.serial.Store(v)
	s.serialAt.Store(now)
	return v
}
