package agent

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/anchorwatch/anchorwatch/api/client"
)

// policyWaitLoop keeps one policy wait open at the collector (the same
// client, pinning and, over HTTP/2, TLS connection as the reports). When
// the collector announces a newer serial, the main loop fetches,
// verifies and applies it at once (policyHint), and the report that
// follows carries the new serial. Errors back off (a 503's Retry-After
// at least); a collector without the endpoint is asked again after
// waitUnsupportedPause, the heartbeat fetching the policy meanwhile.
func (a *Agent) policyWaitLoop(ctx context.Context) {
	var announced int64 // the newest serial the collector announced
	var fails int
	for ctx.Err() == nil {
		key := a.state.nodeKey()
		if key == "" { // enrollment happens in the send loop
			select {
			case <-ctx.Done():
			case <-a.enrolledC:
			case <-time.After(waitNoKeyPause):
			}
			continue
		}
		held := max(a.heldSerial(), announced)
		serial, err := a.client.WaitPolicy(ctx, key, held)
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			fails = 0
			if serial > held {
				// A serial refused or not fetched (yet) is not asked for
				// again: the next wait is for a newer one, and heartbeats
				// and rescans retry the fetch.
				announced = serial
				a.log.Info("the collector announces a new policy", "serial", serial, "held_serial", a.heldSerial())
				signal(a.policyHint)
			}
		case errors.Is(err, client.ErrWaitUnsupported):
			a.log.Info("the collector has no policy wait: fetching the policy at heartbeats only", "retry_in", waitUnsupportedPause)
			sleepCtx(ctx, waitUnsupportedPause)
		default:
			fails++
			d := waitBackoff(fails, err)
			a.log.Debug("policy wait failed: waiting before the next", "err", err, "retry_in", d.Round(time.Second))
			sleepCtx(ctx, d)
		}
	}
}

const (
	waitNoKeyPause       = time.Minute
	waitUnsupportedPause = time.Hour
	waitBackoffMax       = 5 * time.Minute
)

// waitBackoff is the pause after the fails-th failed wait in a row:
// doubling from 1s to waitBackoffMax, jittered ±50%, and never shorter
// than a Retry-After the collector asked for.
func waitBackoff(fails int, err error) time.Duration {
	d := min(time.Second<<min(fails-1, 16), waitBackoffMax)
	d = d/2 + rand.N(d)
	var ae *client.APIError
	if errors.As(err, &ae) && ae.RetryAfter > d {
		d = ae.RetryAfter
	}
	return d
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
