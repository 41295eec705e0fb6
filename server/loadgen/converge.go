package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
)

// ConvergeConfig describes a convergence run: the fleet of Config, each
// simulated agent holding a policy wait open (GET /api/v1/policy/wait)
// as the real agent does; reports go on at Config.Rate throughout. After
// Baseline, Upload publishes a new policy; every agent woken fetches the
// policy and sends a full report with the new serial and a
// policy_applied event. The run measures the time from the upload until
// 50, 99 and 100% of the agents had that report acknowledged, and the
// report rate before and during the rollout.
type ConvergeConfig struct {
	Config
	// Upload publishes a policy with a serial above the one served and
	// returns that serial (the CLI PUTs a signed blob with an admin token).
	Upload func(ctx context.Context) (int64, error)
	// AgentClient returns the HTTP client of simulated agent i: give
	// agents their own connection (as real agents) or share a few
	// HTTP/2 connections. Default: Config.Client for every agent.
	AgentClient func(i int) *http.Client
	Baseline    time.Duration // reports before the upload (default 10s)
	Timeout     time.Duration // longest wait for every agent after the upload (default 2m)
}

// Convergence is what a convergence run measured.
type Convergence struct {
	Agents int // simulated agents holding a policy wait
	// Ramp is how long it took until every agent had sent its first
	// policy wait (connections, TLS handshakes): the measured phases
	// start after it.
	Ramp    time.Duration
	Serial  int64 // the serial uploaded
	Reached int   // agents that reported it before Timeout
	// P50, P99 and P100 are the times from the upload until 50, 99 and
	// 100% of Agents had reported the new serial (0: not reached).
	P50, P99, P100 time.Duration
	// WaitErrors counts failed policy waits (Refused of them 503s over
	// the collector's cap); FetchErrors failed policy fetches and reports.
	WaitErrors, Refused, FetchErrors int64
	FirstError                       string
	// Before and During are the background report load before the
	// upload and from it until every agent reported (or Timeout).
	Before, During ReportRate
}

// ReportRate is the background report load of a window.
type ReportRate struct {
	Offered   float64 // reports/s asked for (0: as fast as possible)
	PerSecond float64 // acknowledged
	P99       time.Duration
	Errors    int64
}

func (r ReportRate) String() string {
	return fmt.Sprintf("%.0f reports/s acknowledged (offered %.0f/s), p99 %v, %d errors", r.PerSecond, r.Offered, r.P99.Round(100*time.Microsecond), r.Errors)
}

func (c *Convergence) String() string {
	pct := func(d time.Duration) string {
		if d == 0 {
			return "not reached"
		}
		return d.Round(10 * time.Millisecond).String()
	}
	return fmt.Sprintf("%d agents held a policy wait after %v\nserial %d reported by %d of %d agents: 50%% in %s, 99%% in %s, 100%% in %s (wait errors %d, refused %d; fetch/report errors %d)\nreports before the upload: %s\nreports during the rollout: %s",
		c.Agents, c.Ramp.Round(10*time.Millisecond), c.Serial, c.Reached, c.Agents, pct(c.P50), pct(c.P99), pct(c.P100), c.WaitErrors, c.Refused, c.FetchErrors, c.Before, c.During)
}

func (c *ConvergeConfig) convergeDefaults() error {
	if c.Upload == nil {
		return errors.New("loadgen: converge needs an Upload")
	}
	if c.Baseline <= 0 {
		c.Baseline = 10 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Minute
	}
	return nil
}

// Converge runs a convergence measurement (see ConvergeConfig).
func Converge(ctx context.Context, cfg ConvergeConfig) (*Convergence, error) {
	if err := cfg.convergeDefaults(); err != nil {
		return nil, err
	}
	f, err := prepare(ctx, &cfg.Config)
	if err != nil {
		return nil, err
	}
	if cfg.AgentClient == nil {
		cfg.AgentClient = func(int) *http.Client { return f.cfg.Client }
	}
	served, err := servedSerial(ctx, cfg.AgentClient(0), f.cfg.URL, f.live[0].key)
	if err != nil {
		return nil, err
	}
	r := &rollout{f: f, cfg: &cfg, served: served, acks: make(chan time.Duration, len(f.live))}
	for _, h := range f.live {
		h.mu.Lock()
		h.serial = served
		h.mu.Unlock()
	}
	pctx, stopAgents := context.WithCancel(ctx)
	var agents sync.WaitGroup
	defer func() { stopAgents(); agents.Wait() }()
	out := &Convergence{Agents: len(f.live)}
	// Agents connect Concurrency at a time, as a fleet does over its
	// boot times: not 10,000 TLS handshakes in one second.
	r.connecting = make(chan struct{}, f.cfg.Concurrency)
	agents.Add(1) // the launcher: the agents' Add happen while it counts
	go func() {
		defer agents.Done()
		for i, h := range f.live {
			select {
			case r.connecting <- struct{}{}:
			case <-pctx.Done():
				return
			}
			agents.Add(1)
			go func() { defer agents.Done(); r.agent(pctx, i, h) }()
		}
	}()
	if out.Ramp, err = r.rampUp(ctx); err != nil {
		return out, err
	}
	out.Before = rate(f.reportPhase(ctx, f.cfg.Rate, cfg.Baseline, nil))
	if err := ctx.Err(); err != nil {
		return out, err
	}
	return r.measure(ctx, out)
}

// rollout is a convergence run under way.
type rollout struct {
	f        *fleet
	cfg      *ConvergeConfig
	served   int64              // the serial served before the upload
	uploaded atomic.Int64       // unix ns of the upload
	acks     chan time.Duration // one per agent that reported a serial above served

	ready                        atomic.Int64  // agents whose first wait was sent
	connecting                   chan struct{} // a token per agent sending its first wait
	waitErrs, refused, fetchErrs atomic.Int64
	firstErr                     atomic.Value
}

// rampUp waits until every agent has sent its first policy wait.
func (r *rollout) rampUp(ctx context.Context) (time.Duration, error) {
	var done, errs atomic.Int64
	stop := r.f.progress("waits", int64(len(r.f.live)), 0, &done, &errs)
	defer stop()
	start := time.Now()
	for {
		n := r.ready.Load()
		done.Store(n)
		errs.Store(r.waitErrs.Load())
		if n >= int64(len(r.f.live)) {
			return time.Since(start), nil
		}
		if time.Since(start) > r.cfg.Timeout {
			msg, _ := r.firstErr.Load().(string)
			return time.Since(start), fmt.Errorf("loadgen: only %d of %d agents could open a policy wait in %v: %s", n, len(r.f.live), r.cfg.Timeout, msg)
		}
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// measure uploads, runs the report load until every agent reported the
// new serial (or Timeout), and collects the figures.
func (r *rollout) measure(ctx context.Context, out *Convergence) (*Convergence, error) {
	done := make(chan struct{})
	var during *phaseResult
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); during = r.f.reportPhase(ctx, r.f.cfg.Rate, r.cfg.Timeout, done) }()
	r.uploaded.Store(time.Now().UnixNano())
	serial, err := r.cfg.Upload(ctx)
	if err != nil {
		close(done)
		wg.Wait()
		return out, fmt.Errorf("upload the policy: %w", err)
	}
	out.Serial = serial
	var times []time.Duration
	deadline := time.NewTimer(r.cfg.Timeout)
	defer deadline.Stop()
collect:
	for len(times) < out.Agents {
		select {
		case d := <-r.acks:
			times = append(times, d)
		case <-deadline.C:
			break collect
		case <-ctx.Done():
			break collect
		}
	}
	close(done)
	wg.Wait()
	out.During = rate(during)
	out.Reached = len(times)
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	at := func(pct int) time.Duration {
		need := (out.Agents*pct + 99) / 100
		if need == 0 || need > len(times) {
			return 0
		}
		return times[need-1]
	}
	out.P50, out.P99, out.P100 = at(50), at(99), at(100)
	out.WaitErrors, out.Refused, out.FetchErrors = r.waitErrs.Load(), r.refused.Load(), r.fetchErrs.Load()
	if msg, ok := r.firstErr.Load().(string); ok {
		out.FirstError = msg
	}
	return out, ctx.Err()
}

func rate(p *phaseResult) ReportRate {
	return ReportRate{Offered: p.offered, PerSecond: p.perSecond, P99: p.p99, Errors: p.errs}
}

// agent is one simulated agent's policy loop: wait, fetch, report.
func (r *rollout) agent(ctx context.Context, i int, h *host) {
	c := r.cfg.AgentClient(i)
	rng := rand.New(rand.NewPCG(r.f.cfg.Seed, uint64(i)+1<<32))
	fails := 0
	var readyOnce, turnOnce sync.Once
	passTurn := func() { turnOnce.Do(func() { <-r.connecting }) }
	connected := func() { readyOnce.Do(func() { r.ready.Add(1) }); passTurn() }
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { connected() }}
	tctx := httptrace.WithClientTrace(ctx, trace)
	for ctx.Err() == nil {
		h.mu.Lock()
		held := h.serial
		h.mu.Unlock()
		serial, retry, err := waitPolicy(tctx, c, r.f.cfg.URL, h.key, held)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			r.waitErrs.Add(1)
			passTurn() // the next agent connects; this one retries later
			if retry > 0 {
				r.refused.Add(1)
			}
		case serial > held:
			err = r.apply(ctx, c, h, rng)
		}
		if err == nil {
			fails = 0
			continue
		}
		r.firstErr.CompareAndSwap(nil, err.Error())
		fails++
		d := max(retry, time.Duration(rng.Int64N(int64(time.Second)<<min(fails, 5))))
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
}

// apply fetches the policy (as the agent does, then verifies it on its
// own CPU: not simulated) and reports the new serial with a
// policy_applied event; the ack is timed from the upload.
func (r *rollout) apply(ctx context.Context, c *http.Client, h *host, rng *rand.Rand) error {
	serial, err := fetchSerial(ctx, c, r.f.cfg.URL, h.key)
	if err != nil {
		r.fetchErrs.Add(1)
		return err
	}
	rep := h.applied(rng, serial, r.f.seq.Add(1))
	var rr api.ReportResponse
	if _, err := post(ctx, c, r.f.cfg.URL+api.PathReport, rep, &rr); err != nil {
		r.fetchErrs.Add(1)
		return err
	}
	if serial > r.served {
		r.acks <- time.Since(time.Unix(0, r.uploaded.Load()))
	}
	return nil
}

// waitPolicy holds GET /api/v1/policy/wait; it returns the newer serial
// (0 on 204) or the Retry-After of a refusal.
func waitPolicy(ctx context.Context, c *http.Client, base, key string, held int64) (int64, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+api.PathPolicyWait+"?serial="+strconv.FormatInt(held, 10), nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("X-Anchorwatch-Node-Key", key)
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case err != nil:
		return 0, 0, err
	case resp.StatusCode == http.StatusNoContent:
		return 0, 0, nil
	case resp.StatusCode != http.StatusOK:
		n, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return 0, time.Duration(n) * time.Second, fmt.Errorf("policy wait: %d %s", resp.StatusCode, body)
	}
	var out api.PolicyWaitResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return 0, 0, fmt.Errorf("policy wait: %w", err)
	}
	return out.PolicySerial, 0, nil
}

// fetchSerial fetches the policy blob and returns its serial (0 when
// none is served).
func fetchSerial(ctx context.Context, c *http.Client, base, key string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+api.PathPolicy, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-Anchorwatch-Node-Key", key)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, api.MaxBodyBytes)); err != nil {
		return 0, err
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return 0, nil
	case http.StatusOK:
		return strconv.ParseInt(resp.Header.Get("X-Anchorwatch-Policy-Serial"), 10, 64)
	}
	return 0, fmt.Errorf("fetch policy: %d", resp.StatusCode)
}

// servedSerial is the serial the collector serves before the upload.
func servedSerial(ctx context.Context, c *http.Client, base, key string) (int64, error) {
	s, err := fetchSerial(ctx, c, base, key)
	if err != nil {
		return 0, fmt.Errorf("loadgen: read the served policy: %w", err)
	}
	return s, nil
}
