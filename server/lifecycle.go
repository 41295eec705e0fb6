package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/anchorwatch/anchorwatch/server/db"
)

// Lifecycle defaults (Config).
const (
	DefaultStaleAfter        = db.DefaultStaleAfter
	DefaultRetireAfter       = 30 * 24 * time.Hour
	DefaultEventRetention    = 365 * 24 * time.Hour
	DefaultSnapshotRetention = 400 * 24 * time.Hour
)

func (c *Config) lifecycleDefaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.StaleAfter, DefaultStaleAfter)
	def(&c.RetireAfter, DefaultRetireAfter)
	def(&c.EventRetention, DefaultEventRetention)
	def(&c.SnapshotRetention, DefaultSnapshotRetention)
	def(&c.MaintenanceInterval, time.Hour)
	def(&c.PrunePause, 20*time.Millisecond)
	if c.PruneBatch <= 0 {
		c.PruneBatch = 1000
	}
	if c.StaleAfter < 0 {
		c.StaleAfter = DefaultStaleAfter
	}
}

// housekeeping records the hourly compliance snapshot of hours in which
// nothing changed (checked every minute), and runs Maintain every
// MaintenanceInterval, the first time a minute after start.
func (s *Server) housekeeping() {
	defer s.bg.Done()
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	next := time.Now().Add(time.Minute)
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-s.stop:
			case <-ctx.Done():
			}
			cancel()
		}()
		if err := s.st.SnapshotHour(ctx, time.Now()); err != nil {
			s.errs.failed(slog.LevelWarn, "record the hourly compliance snapshot", err)
		}
		if !time.Now().Before(next) {
			next = time.Now().Add(s.cfg.MaintenanceInterval)
			s.Maintain(ctx)
		}
		cancel()
	}
}

// Maintenance is what one Maintain run did.
type Maintenance struct {
	Retired                      int   // hosts retired for not being seen for RetireAfter
	Events, Snapshots, ReportIDs int64 // rows pruned
	Batches                      int   // transactions used to prune and retire
}

// Maintain retires the hosts not seen for RetireAfter and prunes events,
// snapshots and report ids past their retention, then expired enroll
// nonces and dashboard sessions. Each step is a loop of small
// transactions (PruneBatch rows) with a pause between them, on its own
// goroutine — never the ingest writer — so reports keep being written
// while a large history is pruned. It stops early when ctx ends.
func (s *Server) Maintain(ctx context.Context) (Maintenance, error) {
	var m Maintenance
	now := time.Now()
	var errs []error
	if s.cfg.RetireAfter > 0 {
		detail := fmt.Sprintf("not seen for %s: retired automatically (collector serve --retire-after)", fmtDays(s.cfg.RetireAfter))
		n, b, err := s.batches(ctx, func(limit int) (int64, error) {
			n, err := s.st.RetireStale(ctx, now.Add(-s.cfg.RetireAfter), limit, detail)
			return int64(n), err
		})
		m.Retired, m.Batches = int(n), m.Batches+b
		errs = append(errs, err)
		if n > 0 {
			s.log.Info("retired hosts not seen for "+fmtDays(s.cfg.RetireAfter), "count", n)
		}
	}
	for _, p := range []struct {
		what   string
		keep   time.Duration
		pruned *int64
	}{
		{"events", s.cfg.EventRetention, &m.Events},
		{"snapshots", s.cfg.SnapshotRetention, &m.Snapshots},
		{"reports", s.cfg.ReportRetention, &m.ReportIDs},
	} {
		if p.keep <= 0 {
			continue
		}
		n, b, err := s.batches(ctx, func(limit int) (int64, error) {
			return s.st.PruneBatch(ctx, p.what, now.Add(-p.keep), limit)
		})
		*p.pruned, m.Batches = n, m.Batches+b
		errs = append(errs, err)
		if n > 0 {
			s.log.Info("pruned "+p.what+" past their retention", "count", n, "retention", fmtDays(p.keep))
		}
	}
	if _, err := s.st.PruneNonces(ctx, now); err != nil {
		errs = append(errs, err)
	}
	if _, err := s.st.PruneSessions(ctx, now); err != nil {
		errs = append(errs, err)
	}
	err := errors.Join(errs...)
	if err != nil {
		s.errs.failed(slog.LevelWarn, "maintenance (retention, retirement)", err)
		s.m.storeErrors.WithLabelValues("maintenance", errClass(err)).Inc()
	}
	return m, err
}

// batches calls step with PruneBatch until it does less than that,
// pausing PrunePause between calls; it returns the total and the number
// of calls.
func (s *Server) batches(ctx context.Context, step func(limit int) (int64, error)) (int64, int, error) {
	var total int64
	for calls := 1; ; calls++ {
		n, err := step(s.cfg.PruneBatch)
		total += n
		if err != nil || n < int64(s.cfg.PruneBatch) {
			return total, calls, err
		}
		select {
		case <-ctx.Done():
			return total, calls, ctx.Err()
		case <-s.stop:
			return total, calls, errClosed
		case <-time.After(s.cfg.PrunePause):
		}
	}
}

// fmtDays writes whole days as "30d", anything else as Go does.
func fmtDays(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// handleHostRetire retires a host (admin): it leaves the compliance
// figures and the host lists, keeps its record and history, and is
// active again when it reports.
func (s *Server) handleHostRetire(w http.ResponseWriter, r *http.Request) {
	id, ok := hostID(w, r)
	if !ok {
		return
	}
	who, _ := IdentityFrom(r.Context())
	if err := s.st.RetireHost(r.Context(), id, "retired by an administrator ("+who.Name+")"); err != nil {
		s.hostAdminError(w, "retire host", err)
		return
	}
	s.audit(r, "host retired", "host_id", id)
	w.WriteHeader(http.StatusNoContent)
}
