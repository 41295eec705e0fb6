package server

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// errLog writes repeated errors of one kind at most once per interval:
// the first at once, then one line per interval that says how many were
// held back since the last line, and one line when the kind recovers. A
// collector on a full disk fails every request the same way; without
// this it writes a line for each (tens of thousands a minute) onto that
// same disk. Kinds are fixed strings from the code, so the map stays
// small.
type errLog struct {
	log   *slog.Logger
	every time.Duration
	mu    sync.Mutex
	kinds map[string]*errKind
}

type errKind struct {
	failing bool
	since   time.Time // first failure of the current run
	last    time.Time // last failure
	logged  time.Time // last line written
	total   int64     // failures in the current run
	held    int64     // failures since the last line
}

func newErrLog(log *slog.Logger, every time.Duration) *errLog {
	if every <= 0 {
		every = 10 * time.Second
	}
	return &errLog{log: log, every: every, kinds: map[string]*errKind{}}
}

// failed records one failure of kind; it logs it (at level) unless a line
// for kind was written less than an interval ago.
func (l *errLog) failed(level slog.Level, kind string, err error, args ...any) {
	now := time.Now()
	l.mu.Lock()
	k := l.kinds[kind]
	if k == nil {
		k = &errKind{}
		l.kinds[kind] = k
	}
	if !k.failing || now.Sub(k.last) > 6*l.every { // a new run of failures
		*k = errKind{failing: true, since: now}
	}
	k.total++
	k.last = now
	if !k.logged.IsZero() && now.Sub(k.logged) < l.every {
		k.held++
		l.mu.Unlock()
		return
	}
	held := k.held
	k.held, k.logged = 0, now
	l.mu.Unlock()
	args = append(args, "err", err)
	if held > 0 {
		args = append(args, "repeated", held, "failing_since", k.since.UTC().Format(time.RFC3339))
	}
	l.log.Log(context.Background(), level, kind, args...)
}

// ok records a success of kind: after failures it writes one line saying
// how many there were and for how long. (Kinds whose successes are not
// reported start a new run after six quiet intervals.)
func (l *errLog) ok(kind string) {
	l.mu.Lock()
	k := l.kinds[kind]
	if k == nil || !k.failing {
		l.mu.Unlock()
		return
	}
	total, since := k.total, k.since
	*k = errKind{}
	l.mu.Unlock()
	l.log.Info(kind+": recovered", "failures", total, "for", time.Since(since).Round(time.Millisecond).String())
}
