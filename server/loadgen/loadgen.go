package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anchorwatch/anchorwatch/server/api"
)

// Config describes a load run.
type Config struct {
	URL          string // collector base URL, e.g. https://127.0.0.1:8443
	EnrollSecret string
	Hosts        int           // simulated hosts (default 1000)
	Rate         float64       // reports per second in total; 0 = as fast as possible
	Duration     time.Duration // length of the report phase (default 30s)
	Concurrency  int           // requests in flight at most (default 128)
	// FullRatio is the share of reports that carry a changed state (full
	// report with drift events); the rest are heartbeats. Default 0.1;
	// 1 sends only full reports.
	FullRatio float64
	Stores    int // stores per host (default 10)
	Client    *http.Client
	Seed      uint64
}

// Result is what a run measured.
type Result struct {
	Enrolled   int
	EnrollTime time.Duration
	WarmupTime time.Duration // every host's first full report
	Sent       int64
	Acked      int64
	Full       int64
	Duplicates int64
	Errors     int64
	FirstError string
	Elapsed    time.Duration
	PerSecond  float64 // acknowledged reports per second
	P50, P90   time.Duration
	P99, Max   time.Duration
}

func (r *Result) String() string {
	return fmt.Sprintf("enrolled %d hosts in %v, first reports in %v; %d reports sent, %d acknowledged (%d full, %d duplicates), %d errors in %v: %.0f reports/s; latency p50 %v p90 %v p99 %v max %v",
		r.Enrolled, r.EnrollTime.Round(time.Millisecond), r.WarmupTime.Round(time.Millisecond), r.Sent, r.Acked, r.Full, r.Duplicates, r.Errors, r.Elapsed.Round(time.Millisecond),
		r.PerSecond, r.P50.Round(10*time.Microsecond), r.P90.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.Max.Round(10*time.Microsecond))
}

// host is one simulated agent.
type host struct {
	mu      sync.Mutex
	key     string
	n       int
	stores  []api.StoreStatus
	cas     []api.CA
	hash    string
	sentOne bool
}

var kinds = []struct{ kind, path, format string }{
	{"system", "/etc/ssl/certs/ca-certificates.crt", "pem-bundle"},
	{"nss", "/home/alice/.pki/nssdb", "sql"},
	{"nss", "/home/alice/.mozilla/firefox/abcd.default-release", "sql"},
	{"nss", "/home/bob/.pki/nssdb", "sql"},
	{"nss", "/etc/pki/nssdb", "sql"},
	{"java", "/etc/ssl/certs/java/cacerts", "jks"},
	{"java", "/usr/lib/jvm/temurin-21-jdk/lib/security/cacerts", "pkcs12"},
	{"java", "/opt/app/jre/lib/security/cacerts", "jks"},
	{"firefox-policy", "/etc/firefox/policies/policies.json", "json"},
	{"nss", "/home/carol/snap/firefox/common/.mozilla/firefox/x.default", "sql"},
	{"java", "/usr/lib/jvm/java-17-openjdk-amd64/lib/security/cacerts", "jks"},
	{"nss", "/root/.pki/nssdb", "sql"},
}

func newHost(i, stores int) *host {
	h := &host{}
	for j := 0; j < stores; j++ {
		k := kinds[j%len(kinds)]
		id := fmt.Sprintf("%s:%s", k.kind, k.path)
		if j >= len(kinds) {
			id += fmt.Sprint("#", j)
		}
		h.stores = append(h.stores, api.StoreStatus{ID: id, Kind: k.kind, Path: k.path, Format: k.format, Status: "compliant"})
	}
	if i%20 == 0 && stores > 1 { // 5% start with a drifted store
		h.stores[1].Status = "missing"
	}
	h.cas = []api.CA{{SHA256: "5f4c8a2e9d3b7a1c6e0f8d2b4a6c8e0f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d", Subject: "CN=Example Corp Inspection CA", NotAfter: time.Date(2030, 6, 30, 0, 0, 0, 0, time.UTC)}}
	h.rehash()
	return h
}

func (h *host) rehash() {
	h.n++
	h.hash = fmt.Sprintf("state-%d", h.n)
}

// next builds the host's next report.
func (h *host) next(rng *rand.Rand, fullRatio float64, seq int64) *api.ReportRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := &api.ReportRequest{NodeKey: h.key, ReportID: fmt.Sprintf("lg-%d-%d", seq, rng.Uint32()), GeneratedAt: time.Now(), PolicySerial: 1}
	if !h.sentOne || rng.Float64() < fullRatio {
		var events []api.Event
		if h.sentOne {
			// Drift: a store loses the CA, or gets healed.
			i := rng.IntN(len(h.stores))
			ev := api.Event{ID: fmt.Sprintf("ev-%d-%d", seq, rng.Uint64()), Time: time.Now(), StoreID: h.stores[i].ID}
			if h.stores[i].Status == "compliant" {
				h.stores[i].Status, ev.Type = "missing", api.EventRemoved
			} else {
				h.stores[i].Status, ev.Type = "compliant", api.EventHealed
			}
			events = append(events, ev)
			h.rehash()
		}
		h.sentOne = true
		r.Kind = api.ReportFull
		r.StateHash = h.hash
		r.Stores = append([]api.StoreStatus(nil), h.stores...)
		r.CAs = h.cas
		r.Events = events
		return r
	}
	r.Kind = api.ReportHeartbeat
	r.StateHash = h.hash
	return r
}

// Run enrolls cfg.Hosts hosts and then reports at cfg.Rate for cfg.Duration.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.URL == "" {
		return nil, errors.New("loadgen: no collector URL")
	}
	if cfg.Hosts <= 0 {
		cfg.Hosts = 1000
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 30 * time.Second
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 128
	}
	if cfg.FullRatio <= 0 {
		cfg.FullRatio = 0.1
	}
	if cfg.Stores <= 0 {
		cfg.Stores = 10
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	res := &Result{}
	hosts := make([]*host, cfg.Hosts)
	for i := range hosts {
		hosts[i] = newHost(i, cfg.Stores)
	}
	// Enroll, Concurrency at a time.
	start := time.Now()
	var firstErr atomic.Value
	var wg sync.WaitGroup
	sem := make(chan struct{}, cfg.Concurrency)
	for i, h := range hosts {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, h *host) {
			defer wg.Done()
			defer func() { <-sem }()
			req := api.EnrollRequest{EnrollSecret: cfg.EnrollSecret, Host: api.HostFacts{
				Hostname: fmt.Sprintf("lg-host-%06d.corp.example", i), MachineID: fmt.Sprintf("lg-%d-%06d", cfg.Seed, i),
				OS: []string{"linux", "linux", "windows", "darwin"}[i%4], OSVersion: "Debian GNU/Linux 12 (bookworm)", Arch: "amd64", AgentVersion: "0.1.0",
				IPs: []string{fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}, MACs: []string{fmt.Sprintf("02:00:%02x:%02x:%02x:%02x", i>>24&255, i>>16&255, i>>8&255, i&255)}}}
			var er api.EnrollResponse
			if _, err := post(ctx, cfg.Client, cfg.URL+api.PathEnroll, req, &er); err != nil {
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			h.key = er.NodeKey
		}(i, h)
	}
	wg.Wait()
	res.EnrollTime = time.Since(start)
	var live []*host
	for _, h := range hosts {
		if h.key != "" {
			live = append(live, h)
		}
	}
	res.Enrolled = len(live)
	if len(live) == 0 {
		msg, _ := firstErr.Load().(string)
		return res, fmt.Errorf("loadgen: no host could enroll: %s", msg)
	}

	// Warm-up: every host sends its first, full report (not measured), so
	// the measured phase is the steady state of a fleet that is running.
	start = time.Now()
	for i, h := range live {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, h *host) {
			defer wg.Done()
			defer func() { <-sem }()
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
			var rr api.ReportResponse
			if _, err := post(ctx, cfg.Client, cfg.URL+api.PathReport, h.next(rng, 1, int64(-1-i)), &rr); err != nil {
				firstErr.CompareAndSwap(nil, err.Error())
			}
		}(i, h)
	}
	wg.Wait()
	res.WarmupTime = time.Since(start)

	// Report phase.
	rctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var mu sync.Mutex
	lat := make([]time.Duration, 0, 1<<16)
	var seq, sent, acked, full, dups, errs atomic.Int64
	work := make(chan struct{}, cfg.Concurrency)
	start = time.Now()
	for w := 0; w < cfg.Concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(w)))
			local := make([]time.Duration, 0, 4096)
			defer func() {
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
			}()
			for range work {
				n := seq.Add(1)
				h := live[int(n)%len(live)]
				rep := h.next(rng, cfg.FullRatio, n)
				t0 := time.Now()
				sent.Add(1)
				var rr api.ReportResponse
				_, err := post(ctx, cfg.Client, cfg.URL+api.PathReport, rep, &rr)
				d := time.Since(t0)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				acked.Add(1)
				if rep.Kind == api.ReportFull {
					full.Add(1)
				}
				if rr.Duplicate {
					dups.Add(1)
				}
				local = append(local, d)
			}
		}(w)
	}
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.Rate)
	}
	next := time.Now()
dispatch:
	for {
		if interval > 0 {
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				select {
				case <-rctx.Done():
					break dispatch
				case <-time.After(d):
				}
			}
		}
		select {
		case work <- struct{}{}:
		case <-rctx.Done():
			break dispatch
		}
	}
	close(work)
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Sent, res.Acked, res.Full, res.Duplicates, res.Errors = sent.Load(), acked.Load(), full.Load(), dups.Load(), errs.Load()
	if msg, ok := firstErr.Load().(string); ok {
		res.FirstError = msg
	}
	res.PerSecond = float64(res.Acked) / res.Elapsed.Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if n := len(lat); n > 0 {
		res.P50, res.P90, res.P99, res.Max = lat[n*50/100], lat[n*90/100], lat[n*99/100], lat[n-1]
	}
	return res, nil
}

func post(ctx context.Context, c *http.Client, url string, body, out any) (int, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("%s: %d %s", url, resp.StatusCode, bytes.TrimSpace(b))
	}
	return resp.StatusCode, json.Unmarshal(b, out)
}
