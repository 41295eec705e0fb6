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

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/stores"
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
	// Progress, if set, is called about once a second with how the run
	// is going (the CLI prints it).
	Progress func(Progress)
	// PhaseStart, if set, is called as each phase begins: "enroll",
	// "warm-up", then "report" (once per step of a saturation run); a
	// benchmark reads the collector's CPU time there.
	PhaseStart func(phase string)
}

// Progress is a run's state, reported to Config.Progress.
type Progress struct {
	Phase   string // "enroll", "warm-up" (first full reports) or "report"
	Done    int64  // hosts enrolled or warmed up; reports acknowledged
	Total   int64  // hosts to enroll or warm up (0 in the report phase)
	Errors  int64
	Elapsed time.Duration // in this phase
	Rate    float64       // acknowledged per second over the last interval
	Offered float64       // the rate asked for (0: as fast as possible)
}

func (p Progress) String() string {
	switch {
	case p.Total > 0:
		return fmt.Sprintf("%s: %d/%d hosts, %d errors (%v)", p.Phase, p.Done, p.Total, p.Errors, p.Elapsed.Round(time.Second))
	case p.Offered > 0:
		return fmt.Sprintf("%s at %.0f/s: %d acknowledged, %.0f/s now, %d errors (%v)", p.Phase, p.Offered, p.Done, p.Rate, p.Errors, p.Elapsed.Round(time.Second))
	}
	return fmt.Sprintf("%s: %d acknowledged, %.0f/s now, %d errors (%v)", p.Phase, p.Done, p.Rate, p.Errors, p.Elapsed.Round(time.Second))
}

// Result is what a run measured.
type Result struct {
	Enrolled   int
	EnrollTime time.Duration
	WarmupTime time.Duration // every host's first full report
	Offered    float64       // reports per second asked for (0: as fast as possible)
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
	serial  int64 // the policy serial it holds (converge.go)
}

var kinds = []struct {
	kind         stores.Kind
	path, format string
}{
	{stores.KindSystem, "/etc/ssl/certs/ca-certificates.crt", "pem-bundle"},
	{stores.KindNSS, "/home/alice/.pki/nssdb", "sql"},
	{stores.KindNSS, "/home/alice/.mozilla/firefox/abcd.default-release", "sql"},
	{stores.KindNSS, "/home/bob/.pki/nssdb", "sql"},
	{stores.KindNSS, "/etc/pki/nssdb", "sql"},
	{stores.KindJava, "/etc/ssl/certs/java/cacerts", "jks"},
	{stores.KindJava, "/usr/lib/jvm/temurin-21-jdk/lib/security/cacerts", "pkcs12"},
	{stores.KindJava, "/opt/app/jre/lib/security/cacerts", "jks"},
	{"firefox-policy", "/etc/firefox/policies/policies.json", "json"},
	{stores.KindNSS, "/home/carol/snap/firefox/common/.mozilla/firefox/x.default", "sql"},
	{stores.KindJava, "/usr/lib/jvm/java-17-openjdk-amd64/lib/security/cacerts", "jks"},
	{stores.KindNSS, "/root/.pki/nssdb", "sql"},
}

func newHost(i, nStores int) *host {
	h := &host{serial: 1}
	for j := 0; j < nStores; j++ {
		k := kinds[j%len(kinds)]
		id := fmt.Sprintf("%s:%s", k.kind, k.path)
		if j >= len(kinds) {
			id += fmt.Sprint("#", j)
		}
		h.stores = append(h.stores, api.StoreStatus{ID: id, Kind: k.kind, Path: k.path, Format: k.format, Status: stores.StatusCompliant})
	}
	if i%20 == 0 && nStores > 1 { // 5% start with a drifted store
		h.stores[1].Status = stores.StatusMissing
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
	r := &api.ReportRequest{NodeKey: h.key, ReportID: fmt.Sprintf("lg-%d-%d", seq, rng.Uint32()), GeneratedAt: time.Now(), PolicySerial: h.serial}
	if !h.sentOne || rng.Float64() < fullRatio {
		var events []api.Event
		if h.sentOne {
			// Drift: a store loses the CA, or gets healed.
			i := rng.IntN(len(h.stores))
			ev := api.Event{ID: fmt.Sprintf("ev-%d-%d", seq, rng.Uint64()), Time: time.Now(), StoreID: h.stores[i].ID}
			if h.stores[i].Status == stores.StatusCompliant {
				h.stores[i].Status, ev.Type = stores.StatusMissing, api.EventRemoved
			} else {
				h.stores[i].Status, ev.Type = stores.StatusCompliant, api.EventHealed
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

// applied builds the report of a host that applied a new policy serial,
// as the agent sends it: full (its state hash covers the serial), the
// stores unchanged, one policy_applied event.
func (h *host) applied(rng *rand.Rand, serial, seq int64) *api.ReportRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.serial = serial
	h.rehash()
	return &api.ReportRequest{NodeKey: h.key, ReportID: fmt.Sprintf("lg-%d-%d", seq, rng.Uint32()), GeneratedAt: time.Now(), PolicySerial: serial,
		Kind: api.ReportFull, StateHash: h.hash, Stores: append([]api.StoreStatus(nil), h.stores...), CAs: h.cas,
		Events: []api.Event{{ID: fmt.Sprintf("pa-%d-%d", seq, rng.Uint64()), Time: time.Now(), Type: api.EventPolicyApplied, Detail: fmt.Sprintf("serial %d", serial)}}}
}

func (cfg *Config) defaults() error {
	if cfg.URL == "" {
		return errors.New("loadgen: no collector URL")
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
	return nil
}

// Run enrolls cfg.Hosts hosts and then reports at cfg.Rate for cfg.Duration.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	f, err := prepare(ctx, &cfg)
	if err != nil {
		return f.res, err
	}
	ph := f.reportPhase(ctx, cfg.Rate, cfg.Duration, nil)
	ph.fill(f.res)
	return f.res, nil
}

// fleet is a prepared run: enrolled hosts that sent their first report.
type fleet struct {
	cfg      Config
	live     []*host
	res      *Result
	seq      atomic.Int64
	firstErr atomic.Value
}

// prepare enrolls the hosts (Concurrency at a time), then has each send
// its first, full report (not measured), so the measured phases are the
// steady state of a fleet that is running.
func prepare(ctx context.Context, cfg *Config) (*fleet, error) {
	if err := cfg.defaults(); err != nil {
		return &fleet{res: &Result{}}, err
	}
	f := &fleet{cfg: *cfg, res: &Result{}}
	hosts := make([]*host, cfg.Hosts)
	for i := range hosts {
		hosts[i] = newHost(i, cfg.Stores)
	}
	start := time.Now()
	err := f.each(ctx, "enroll", hosts, func(i int, h *host) error {
		var er api.EnrollResponse
		_, err := post(ctx, cfg.Client, cfg.URL+api.PathEnroll, f.enrollRequest(i), &er)
		h.key = er.NodeKey
		return err
	})
	if err != nil {
		return f, err
	}
	f.res.EnrollTime = time.Since(start)
	for _, h := range hosts {
		if h.key != "" {
			f.live = append(f.live, h)
		}
	}
	f.res.Enrolled = len(f.live)
	if len(f.live) == 0 {
		msg, _ := f.firstErr.Load().(string)
		return f, fmt.Errorf("loadgen: no host could enroll: %s", msg)
	}
	start = time.Now()
	err = f.each(ctx, "warm-up", f.live, func(i int, h *host) error {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
		var rr api.ReportResponse
		_, err := post(ctx, cfg.Client, cfg.URL+api.PathReport, h.next(rng, 1, int64(-1-i)), &rr)
		return err
	})
	f.res.WarmupTime = time.Since(start)
	return f, err
}

func (f *fleet) enrollRequest(i int) api.EnrollRequest {
	return api.EnrollRequest{EnrollSecret: f.cfg.EnrollSecret, Host: api.HostFacts{
		Hostname: fmt.Sprintf("lg-host-%06d.corp.example", i), MachineID: fmt.Sprintf("lg-%d-%06d", f.cfg.Seed, i),
		OS: []string{"linux", "linux", "windows", "darwin"}[i%4], OSVersion: "Debian GNU/Linux 12 (bookworm)", Arch: "amd64", AgentVersion: "0.1.0",
		IPs: []string{fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}, MACs: []string{fmt.Sprintf("02:00:%02x:%02x:%02x:%02x", i>>24&255, i>>16&255, i>>8&255, i&255)}}}
}

// each runs fn for every host, Concurrency at a time, reporting progress
// as phase; it returns ctx's error if the context ends.
func (f *fleet) each(ctx context.Context, phase string, hosts []*host, fn func(i int, h *host) error) error {
	if f.cfg.PhaseStart != nil {
		f.cfg.PhaseStart(phase)
	}
	var wg sync.WaitGroup
	var done, errs atomic.Int64
	sem := make(chan struct{}, f.cfg.Concurrency)
	stop := f.progress(phase, int64(len(hosts)), 0, &done, &errs)
	defer stop()
	for i, h := range hosts {
		if ctx.Err() != nil {
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(i, h); err != nil {
				errs.Add(1)
				f.firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			done.Add(1)
		}()
	}
	wg.Wait()
	return nil
}

// progress calls Config.Progress every second until the returned stop.
func (f *fleet) progress(phase string, total int64, offered float64, done, errs *atomic.Int64) (stop func()) {
	if f.cfg.Progress == nil {
		return func() {}
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		start, t := time.Now(), time.NewTicker(time.Second)
		defer t.Stop()
		last, lastAt := int64(0), start
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				d := done.Load()
				f.cfg.Progress(Progress{Phase: phase, Done: d, Total: total, Errors: errs.Load(), Elapsed: now.Sub(start),
					Rate: float64(d-last) / now.Sub(lastAt).Seconds(), Offered: offered})
				last, lastAt = d, now
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// phaseResult is what one report phase measured.
type phaseResult struct {
	offered                       float64
	sent, acked, full, dups, errs int64
	firstErr                      string
	elapsed                       time.Duration
	perSecond                     float64
	p50, p90, p99, max            time.Duration
}

func (p *phaseResult) fill(r *Result) {
	r.Offered, r.Sent, r.Acked, r.Full, r.Duplicates, r.Errors = p.offered, p.sent, p.acked, p.full, p.dups, p.errs
	r.Elapsed, r.PerSecond, r.P50, r.P90, r.P99, r.Max = p.elapsed, p.perSecond, p.p50, p.p90, p.p99, p.max
	if r.FirstError == "" {
		r.FirstError = p.firstErr
	}
}

// reportPhase sends reports at rate (0: as fast as the workers go) for d,
// or until stop is closed, and measures acknowledged reports per second
// and their latency.
func (f *fleet) reportPhase(ctx context.Context, rate float64, d time.Duration, stop <-chan struct{}) *phaseResult {
	if f.cfg.PhaseStart != nil {
		f.cfg.PhaseStart("report")
	}
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if stop != nil {
		go func() {
			select {
			case <-stop:
				cancel()
			case <-rctx.Done():
			}
		}()
	}
	var mu sync.Mutex
	lat := make([]time.Duration, 0, 1<<16)
	var sent, acked, full, dups, errs atomic.Int64
	var firstErr atomic.Value
	stopProgress := f.progress("report", 0, rate, &acked, &errs)
	work := make(chan struct{}, f.cfg.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < f.cfg.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(f.cfg.Seed, uint64(w)+uint64(f.seq.Load())))
			local := make([]time.Duration, 0, 4096)
			defer func() {
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
			}()
			for range work {
				n := f.seq.Add(1)
				h := f.live[int(n)%len(f.live)]
				rep := h.next(rng, f.cfg.FullRatio, n)
				t0 := time.Now()
				sent.Add(1)
				var rr api.ReportResponse
				_, err := post(ctx, f.cfg.Client, f.cfg.URL+api.PathReport, rep, &rr)
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
		}()
	}
	dispatch(rctx, work, rate)
	close(work)
	wg.Wait()
	stopProgress()
	p := &phaseResult{offered: rate, sent: sent.Load(), acked: acked.Load(), full: full.Load(), dups: dups.Load(), errs: errs.Load(),
		elapsed: time.Since(start)}
	if msg, ok := firstErr.Load().(string); ok {
		p.firstErr = msg
	}
	p.perSecond = float64(p.acked) / p.elapsed.Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if n := len(lat); n > 0 {
		p.p50, p.p90, p.p99, p.max = lat[n*50/100], lat[n*90/100], lat[n*99/100], lat[n-1]
	}
	return p
}

// dispatch hands out work at rate per second (0: as fast as it is taken)
// until ctx ends. Past the workers' capacity it blocks: the rate
// actually reached falls behind the one offered.
func dispatch(ctx context.Context, work chan<- struct{}, rate float64) {
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	next := time.Now()
	for {
		if interval > 0 {
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
			}
		}
		select {
		case work <- struct{}{}:
		case <-ctx.Done():
			return
		}
	}
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
