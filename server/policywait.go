package server

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
)

// Policy waits: an agent holds GET /api/v1/policy/wait?serial=N open and
// learns of a newer policy within seconds instead of at its next
// heartbeat. There is no goroutine or timer work per waiter beyond the
// request's own: every waiter selects on one channel, closed (and
// replaced) when a newer serial is published — by a PUT on this
// collector at once, and by the watch below within PolicyPollInterval
// when another collector on the same database published it (or
// `collector policy upload` wrote the database directly).

// publisher broadcasts the served policy serial to every waiter.
type publisher struct {
	mu     sync.Mutex
	serial int64
	ch     chan struct{} // closed when serial grows
	known  bool          // serial was read from the database at least once

	waiters atomic.Int64
	// reported counts full reports on the newest serial since paceWakes
	// last looked: the woken agents that came back.
	reported atomic.Int64
}

func newPublisher() *publisher { return &publisher{ch: make(chan struct{})} }

// current returns the serial known and the channel closed on the next
// publish.
func (p *publisher) current() (int64, chan struct{}, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.serial, p.ch, p.known
}

// publish records serial; if it is newer, every waiter wakes. It reports
// whether it was newer.
func (p *publisher) publish(serial int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.known = true
	if serial <= p.serial {
		return false
	}
	p.serial = serial
	close(p.ch)
	p.ch = make(chan struct{})
	return true
}

// servedSerial is the serial the publisher knows, read from the database
// when it knows none yet.
func (s *Server) servedSerial(ctx context.Context) (int64, chan struct{}, error) {
	serial, ch, known := s.pub.current()
	if known {
		return serial, ch, nil
	}
	v, err := s.st.CurrentPolicySerial(ctx)
	if err != nil {
		return 0, nil, err
	}
	s.pub.publish(v)
	serial, ch, _ = s.pub.current()
	return serial, ch, nil
}

// watchPolicy reads the served serial every PolicyPollInterval, so that
// a publish by another collector (or straight into the database) wakes
// this one's waiters too; it also samples the rollout (rollout.go).
func (s *Server) watchPolicy() {
	defer s.bg.Done()
	tick := time.NewTicker(s.cfg.PolicyPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.PolicyPollInterval)
		v, err := s.st.CurrentPolicySerial(ctx)
		if err != nil {
			s.errs.failed(slog.LevelWarn, "read policy serial", err)
			cancel()
			continue
		}
		if s.pub.publish(v) {
			s.log.Info("new policy serial: waking agents", "serial", v, "waiters", s.pub.waiters.Load())
		}
		s.roll.sample(ctx, s.st, v, time.Now())
		cancel()
	}
}

// handlePolicyWait holds an agent's request until a policy newer than
// ?serial= is served, or about PolicyWaitHold has passed (204).
func (s *Server) handlePolicyWait(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get(NodeKeyHeader)
	held, err := strconv.ParseInt(r.URL.Query().Get("serial"), 10, 64)
	if err != nil || held < 0 {
		writeError(w, http.StatusBadRequest, api.ErrBadRequest, "serial: a policy serial (0 or more) is required")
		return
	}
	if !s.checkNode(w, r, key) {
		return
	}
	if n := s.pub.waiters.Add(1); n > int64(s.cfg.MaxPolicyWaiters) {
		s.pub.waiters.Add(-1)
		s.m.policyWakes.WithLabelValues("refused").Inc()
		w.Header().Set("Retry-After", strconv.Itoa(30+rand.IntN(60)))
		writeError(w, http.StatusServiceUnavailable, api.ErrUnavailable, "too many agents wait for a policy on this collector: fetch it at your heartbeat")
		return
	}
	defer s.pub.waiters.Add(-1)
	serial, ch, err := s.servedSerial(r.Context())
	if err != nil {
		s.internal(w, "read policy serial", err)
		return
	}
	if serial <= held {
		if serial, err = s.waitPublish(r.Context(), held, ch); errors.Is(err, errClosed) {
			s.internal(w, "policy wait", err) // 503 with Retry-After: ask another collector, or again
			return
		} else if err != nil {
			return // the agent went away
		}
	}
	if serial <= held {
		s.m.policyWakes.WithLabelValues("timeout").Inc()
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.m.policyWakes.WithLabelValues("new_serial").Inc()
	writeJSON(w, http.StatusOK, api.PolicyWaitResponse{PolicySerial: serial})
}

// waitPublish waits for a serial above held, for 5/6 to 7/6 of
// PolicyWaitHold. On a publish it then waits its turn at paceWakes, so
// that the fleet's policy fetches and reports arrive as fast as the
// collector takes them rather than in one millisecond.
func (s *Server) waitPublish(ctx context.Context, held int64, ch chan struct{}) (int64, error) {
	hold := s.cfg.PolicyWaitHold*5/6 + rand.N(s.cfg.PolicyWaitHold/3)
	t := time.NewTimer(hold)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-s.stop:
			return 0, errClosed
		case <-s.draining:
			return 0, errClosed
		case <-t.C:
			serial, _, _ := s.pub.current()
			return serial, nil
		case <-ch:
		}
		serial, next, _ := s.pub.current()
		if serial <= held {
			ch = next
			continue
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-s.stop:
		case <-s.wake: // paceWakes
		}
		return serial, nil
	}
}

// paceWakes lets the waiters woken by a publish go, one token each on
// s.wake: at most PolicyWakeRate a second, in bursts every wakeTick.
// It holds the tokens back while wakeInFlight agents let go in the last
// wakeExpiry have not yet sent their full report on the new serial, or
// while more than wakeBacklog reports wait for the writer: the agents
// woken before and the fleet's usual reports come first and keep their
// latency, and the pace follows what the collector takes. It parks on
// the unbuffered send while nobody waits.
func (s *Server) paceWakes() {
	defer s.bg.Done()
	burst := max(1, int(s.cfg.PolicyWakeRate*wakeTick.Seconds()))
	high := int64(max(wakeBacklog, s.cfg.MaxBatch/8))
	tick := time.NewTicker(wakeTick)
	defer tick.Stop()
	var out []time.Time // tokens given, oldest first, not yet reported
	for {
		for i := 0; i < burst; i++ {
			select {
			case s.wake <- struct{}{}:
				out = append(out, time.Now())
			case <-s.stop:
				return
			}
		}
		for {
			select {
			case <-tick.C:
			case <-s.stop:
				return
			}
			out = settle(out, s.pub.reported.Swap(0), time.Now().Add(-wakeExpiry))
			if len(out) < wakeInFlight && s.w.pending.Load() <= high {
				break
			}
			s.m.policyWakeHeld.Inc()
		}
	}
}

// settle drops from out (oldest first) the reported tokens and those
// given before expired (their agent failed, or refused the policy).
func settle(out []time.Time, reported int64, expired time.Time) []time.Time {
	n := min(int(reported), len(out))
	for n < len(out) && out[n].Before(expired) {
		n++
	}
	return append(out[:0], out[n:]...)
}

// wakeTick is the pace of paceWakes' bursts; wakeBacklog the writer's
// backlog (at least; MaxBatch/8 if more) and wakeInFlight the agents
// woken and not yet reported above which they pause; a woken agent
// counts for wakeExpiry at most.
const (
	wakeTick     = 10 * time.Millisecond
	wakeBacklog  = 64
	wakeInFlight = 256
	wakeExpiry   = 5 * time.Second
)

// noteReport counts a full report on the newest serial for paceWakes.
func (p *publisher) noteReport(kind string, serial int64) {
	if kind != api.ReportFull || serial <= 0 {
		return
	}
	p.mu.Lock()
	newest := p.serial
	p.mu.Unlock()
	if serial == newest {
		p.reported.Add(1)
	}
}

// Drain answers every policy wait held (503 with Retry-After) and every
// new one, so that a graceful shutdown (http.Server.Shutdown waits for
// the requests under way) is not held up by agents waiting for a policy:
// register it with http.Server.RegisterOnShutdown. Close drains too.
func (s *Server) Drain() { s.drainOnce.Do(func() { close(s.draining) }) }
