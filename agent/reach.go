package agent

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/api/client"
	"github.com/anchorwatch/anchorwatch/pki"
)

// Reachability of the PKI (docs/pki-health.md): from the host's own
// network position, can it fetch each CRL distribution point and reach
// each OCSP responder of the policy's CAs? A client that cannot may
// refuse every certificate the proxy mints, because it cannot prove them
// unrevoked. The agent probes each endpoint once per interval, spread
// over the fleet by a random start and jitter so that the CA's servers
// see a trickle rather than a stampede, keeps the results, probes a new
// endpoint (a new policy) at once, and sends the results to the
// collector, which shows the subnets that fail.

// DefaultReachInterval is how often each endpoint is probed when the
// config sets no reach_interval.
const DefaultReachInterval = time.Hour

const (
	reachTimeout  = 10 * time.Second // one probe
	reachParallel = 2                // probes at once
	// reachPoll is how often the loop looks for endpoints it has not
	// probed yet (a new policy), between rounds.
	reachPoll = time.Minute
)

// reacher holds the probe results between rounds.
type reacher struct {
	a        *Agent
	f        *pki.Fetcher
	interval time.Duration
	cache    map[string]pki.Reach // by kind + " " + URL
	// sent: the results in cache reached the collector (or it does not
	// take them); a round before enrollment is sent once enrolled.
	sent bool
}

func (a *Agent) reachInterval() time.Duration {
	if d := time.Duration(a.cfg.ReachInterval); d != 0 {
		return d
	}
	return DefaultReachInterval
}

// reachLoop probes and reports until ctx ends.
func (a *Agent) reachLoop(ctx context.Context) {
	interval := a.reachInterval()
	if interval < 0 {
		return
	}
	r := &reacher{a: a, interval: interval, cache: map[string]pki.Reach{},
		f: &pki.Fetcher{Client: pki.NewClient(), Timeout: reachTimeout, UserAgent: "anchorwatch-agent/" + a.opt.Version}}
	// The first round starts at a random point of the interval: a fleet
	// restarted at once (an upgrade) does not probe at once.
	round := time.NewTimer(randDuration(interval))
	defer round.Stop()
	poll := time.NewTicker(min(reachPoll, interval))
	defer poll.Stop()
	started := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-round.C:
			started = true
			r.run(ctx, true)
			round.Reset(interval + randDuration(interval/5) - interval/10) // ±10%
		case <-poll.C:
			if started {
				r.run(ctx, false)
			}
		}
	}
}

// randDuration returns a uniformly random duration in [0, d).
func randDuration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	var b [8]byte
	rand.Read(b[:])
	return time.Duration(binary.LittleEndian.Uint64(b[:]) % uint64(d))
}

// run probes the endpoints of the policy in force: all of them for a
// round, only those not probed yet otherwise; it sends the results when
// something was probed.
func (r *reacher) run(ctx context.Context, all bool) {
	pol := r.a.policyDoc()
	if pol == nil {
		return
	}
	eps := pki.Endpoints(pol.ActiveCAs(time.Now()))
	if len(eps) > api.MaxReachResults {
		r.a.log.Warn("more CRL and OCSP endpoints than a report may carry: the rest are not probed", "endpoints", len(eps), "max", api.MaxReachResults)
		eps = eps[:api.MaxReachResults]
	}
	var todo []pki.Endpoint
	keep := map[string]bool{}
	for _, e := range eps {
		k := e.Kind + " " + e.URL
		keep[k] = true
		if _, ok := r.cache[k]; all || !ok {
			todo = append(todo, e)
		}
	}
	for k := range r.cache {
		if !keep[k] {
			delete(r.cache, k) // the policy no longer names it
		}
	}
	if len(todo) == 0 {
		if !r.sent && len(r.cache) > 0 {
			r.send(ctx)
		}
		return
	}
	for _, res := range r.probe(ctx, todo) {
		r.cache[res.Kind+" "+res.URL] = res
		if !res.OK {
			r.a.log.Warn("cannot reach a CRL distribution point or OCSP responder of the policy's CAs", "kind", res.Kind, "url", res.URL, "reason", res.Detail)
		}
	}
	r.send(ctx)
}

// probe runs the probes, a few at once.
func (r *reacher) probe(ctx context.Context, eps []pki.Endpoint) []pki.Reach {
	out := make([]pki.Reach, len(eps))
	sem := make(chan struct{}, reachParallel)
	var wg sync.WaitGroup
	for i, e := range eps {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			res := pki.Probe(ctx, r.f, e, time.Now())
			res.Detail = clean(res.Detail)
			out[i] = res
		}()
	}
	wg.Wait()
	return out
}

// send reports every cached result. Reachability is a current state,
// not history: it is not spooled; a failed send is tried again at the
// next poll.
func (r *reacher) send(ctx context.Context) {
	key := r.a.state.nodeKey()
	if key == "" || ctx.Err() != nil {
		return
	}
	r.sent = false
	rep := api.ReachReport{NodeKey: key, Results: make([]pki.Reach, 0, len(r.cache))}
	for _, res := range r.cache {
		rep.Results = append(rep.Results, res)
	}
	err := r.a.client.Reach(ctx, rep)
	var ae *client.APIError
	switch {
	case err == nil:
		r.sent = true
		r.a.log.Debug("reachability reported", "endpoints", len(rep.Results))
	case errors.As(err, &ae) && ae.Said(api.ErrNotFound):
		r.sent = true
		r.a.log.Debug("the collector does not take reachability reports (an older version)")
	default:
		r.a.log.Warn("cannot report reachability; it is sent again after the next probe", "err", err)
	}
}
