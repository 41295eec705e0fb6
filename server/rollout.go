package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/db"
)

// rollout samples how far the served serial has reached the fleet, for
// the dashboard's rollout chart. Samples are taken by watchPolicy: every
// tick while the query is cheap, less often when it is not (about
// 1/rolloutDuty of the time goes to it, a sample every rolloutMaxGap at
// least), for rolloutFor after the upload.
// At most rolloutPoints are kept: past that, every other one is dropped
// and the pace halves.
type rollout struct {
	mu       sync.Mutex
	serial   int64
	uploaded time.Time
	points   []api.RolloutPoint
	next     time.Time     // no sample before
	every    time.Duration // least time between two samples
}

const (
	rolloutFor    = 24 * time.Hour
	rolloutPoints = 600
	rolloutDuty   = 10
	rolloutMaxGap = 10 * time.Second // while the pace is under it
)

// sample adds a point when one is due.
func (ro *rollout) sample(ctx context.Context, st *db.Store, serial int64, now time.Time) {
	if serial == 0 {
		return
	}
	ro.mu.Lock()
	defer ro.mu.Unlock()
	if serial != ro.serial {
		up, err := st.PolicyUploadedAt(ctx, serial)
		if err != nil {
			return
		}
		ro.serial, ro.uploaded, ro.points, ro.next, ro.every = serial, up, nil, time.Time{}, 0
	}
	if now.Before(ro.next) || now.Sub(ro.uploaded) > rolloutFor {
		return
	}
	start := time.Now()
	c, err := st.PolicyRollout(ctx, serial, ro.uploaded)
	if err != nil {
		return
	}
	took := time.Since(start)
	ro.points = append(ro.points, api.RolloutPoint{Seconds: now.Sub(ro.uploaded).Seconds(), On: c.On, Older: c.Older, Silent: c.Silent})
	if len(ro.points) >= rolloutPoints {
		kept := ro.points[:0]
		for i := 0; i < len(ro.points); i += 2 {
			kept = append(kept, ro.points[i])
		}
		ro.points = kept
		ro.every = max(2*ro.every, time.Second)
	}
	ro.next = now.Add(min(max(ro.every, rolloutDuty*took), rolloutMaxGap))
}

// pointsOf returns the samples of serial (none if another serial is sampled).
func (ro *rollout) pointsOf(serial int64) []api.RolloutPoint {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	if ro.serial != serial {
		return nil
	}
	return append([]api.RolloutPoint(nil), ro.points...)
}

// handleRollout answers the served serial's rollout: counts now, and the
// samples this collector took since the upload.
func (s *Server) handleRollout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	out := api.Rollout{Points: []api.RolloutPoint{}}
	serial, err := s.st.CurrentPolicySerial(ctx)
	if err != nil {
		s.internal(w, "read policy serial", err)
		return
	}
	if serial == 0 {
		writeJSON(w, http.StatusOK, out)
		return
	}
	up, err := s.st.PolicyUploadedAt(ctx, serial)
	if errors.Is(err, db.ErrNotFound) { // replaced in between: a later call sees the new one
		writeJSON(w, http.StatusOK, out)
		return
	}
	if err != nil {
		s.internal(w, "read policy", err)
		return
	}
	c, err := s.st.PolicyRollout(ctx, serial, up)
	if err != nil {
		s.internal(w, "count the rollout", err)
		return
	}
	out.Serial, out.UploadedAt = serial, up
	out.Now = api.RolloutPoint{Seconds: time.Since(up).Seconds(), On: c.On, Older: c.Older, Silent: c.Silent}
	if p := s.roll.pointsOf(serial); p != nil {
		out.Points = p
	}
	writeJSON(w, http.StatusOK, out)
}
