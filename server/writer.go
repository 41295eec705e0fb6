package server

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/anchorwatch/anchorwatch/server/db"
)

// errClosed is returned to requests that arrive while the collector stops.
var errClosed = errors.New("collector is shutting down")

type job struct {
	enroll *db.EnrollIn
	report *db.ReportIn
	done   chan jobResult
}

type jobResult struct {
	eo  db.EnrollOut
	ro  db.ReportOut
	err error
}

// writer is the group-commit writer: one goroutine that takes every job
// queued while the previous transaction committed, writes them in one
// transaction, and only then answers each job.
type writer struct {
	st       *db.Store
	errs     *errLog
	m        *metrics
	q        chan *job
	quit     chan struct{}
	dead     chan struct{}
	maxBatch int
	wait     time.Duration
	// pending counts jobs submitted and not yet answered (queued or in
	// the transaction under way): the backlog policy wake-ups yield to.
	pending atomic.Int64
}

func newWriter(st *db.Store, errs *errLog, m *metrics, maxBatch int, wait time.Duration) *writer {
	w := &writer{st: st, errs: errs, m: m, q: make(chan *job, 4*maxBatch), quit: make(chan struct{}),
		dead: make(chan struct{}), maxBatch: maxBatch, wait: wait}
	go w.run()
	return w
}

// submit queues j and waits until it is committed (or failed).
func (w *writer) submit(ctx context.Context, j *job) jobResult {
	w.pending.Add(1)
	defer w.pending.Add(-1)
	j.done = make(chan jobResult, 1)
	select {
	case w.q <- j:
	case <-w.quit:
		return jobResult{err: errClosed}
	case <-ctx.Done():
		return jobResult{err: ctx.Err()}
	}
	select {
	case r := <-j.done:
		return r
	case <-w.dead:
		// The writer may have answered just before exiting.
		select {
		case r := <-j.done:
			return r
		default:
			return jobResult{err: errClosed}
		}
	}
}

func (w *writer) close() {
	close(w.quit)
	<-w.dead
}

func (w *writer) run() {
	defer close(w.dead)
	batch := make([]*job, 0, w.maxBatch)
	for {
		batch = batch[:0]
		select {
		case j := <-w.q:
			batch = append(batch, j)
		case <-w.quit:
			// Drain what was queued before the stop.
			for {
				select {
				case j := <-w.q:
					batch = append(batch, j)
					if len(batch) == w.maxBatch {
						w.commit(batch)
						batch = batch[:0]
					}
				default:
					if len(batch) > 0 {
						w.commit(batch)
					}
					return
				}
			}
		}
		w.gather(&batch)
		w.commit(batch)
	}
}

// gather adds queued jobs to batch, waiting up to w.wait for more while
// the batch is small.
func (w *writer) gather(batch *[]*job) {
	var timer <-chan time.Time
	if w.wait > 0 {
		t := time.NewTimer(w.wait)
		defer t.Stop()
		timer = t.C
	}
	for len(*batch) < w.maxBatch {
		select {
		case j := <-w.q:
			*batch = append(*batch, j)
			continue
		default:
		}
		if timer == nil {
			return
		}
		select {
		case j := <-w.q:
			*batch = append(*batch, j)
		case <-timer:
			return
		case <-w.quit:
			return
		}
	}
}

// writeKind names the writer's failures in the rate-limited error log.
const writeKind = "store write failed"

func (w *writer) commit(batch []*job) {
	start := time.Now()
	err := w.write(batch)
	w.m.commitDuration.Observe(time.Since(start).Seconds())
	w.m.batchSize.Observe(float64(len(batch)))
	if err == nil {
		w.ok()
		return
	}
	if len(batch) == 1 || db.IsUnavailable(err) {
		// The database cannot commit (disk full, I/O error, connection
		// lost): every item would fail alike; each request gets a 503.
		w.fail(err, len(batch))
		for _, j := range batch {
			j.done <- jobResult{err: err}
		}
		return
	}
	// One bad item must not fail the others: write them one by one.
	w.errs.failed(slog.LevelWarn, "batch write failed; retrying items one by one", err, "batch", len(batch))
	for _, j := range batch {
		if err := w.write([]*job{j}); err != nil {
			w.fail(err, 1)
			j.done <- jobResult{err: err}
		} else {
			w.ok()
		}
	}
}

// fail counts and logs (rate limited) a failed write of n items.
func (w *writer) fail(err error, n int) {
	w.m.storeErrors.WithLabelValues("write", errClass(err)).Add(float64(n))
	w.m.storeUnavailable.Set(boolGauge(db.IsUnavailable(err)))
	w.errs.failed(slog.LevelError, writeKind, err, "items", n)
}

// ok notes a committed write (after failures: one "recovered" line).
func (w *writer) ok() {
	w.m.storeUnavailable.Set(0)
	w.errs.ok(writeKind)
}

// errClass is the label of a store error in the metrics.
func errClass(err error) string {
	if db.IsUnavailable(err) {
		return "unavailable"
	}
	return "other"
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// write commits batch and answers every job; on error it answers none.
func (w *writer) write(batch []*job) error {
	var enrolls []db.EnrollIn
	var reports []db.ReportIn
	for _, j := range batch {
		if j.enroll != nil {
			enrolls = append(enrolls, *j.enroll)
		} else {
			reports = append(reports, *j.report)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	eo, ro, err := w.st.WriteBatch(ctx, enrolls, reports)
	if err != nil {
		return err
	}
	ei, ri := 0, 0
	for _, j := range batch {
		if j.enroll != nil {
			j.done <- jobResult{eo: eo[ei]}
			ei++
		} else {
			j.done <- jobResult{ro: ro[ri]}
			ri++
		}
	}
	return nil
}
