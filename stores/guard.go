package stores

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Deadlines of store work. An adapter bounds what it can (non-blocking
// opens, tool timeouts); these bound what it cannot, such as a read from
// a hung network mount.
const (
	// OpTimeout bounds one List, Install, Remove or Audit of one store.
	OpTimeout = 5 * time.Minute
	// DiscoverTimeout bounds one adapter's discovery.
	DiscoverTimeout = time.Minute
)

// ErrTimeout is wrapped when a store operation or an adapter's discovery
// ran past its deadline. The operation is abandoned: the caller goes on
// and the store reports an error.
var ErrTimeout = errors.New("did not finish in time")

// ErrBusy is wrapped when a store is asked to do something while an
// abandoned operation on it is still running.
var ErrBusy = errors.New("an earlier operation on this store has not finished")

// Guard returns s with every List, Install, Remove and Audit bounded by
// d: past it, the call returns an error wrapping ErrTimeout, or ctx's
// error when ctx ends first, and the work goes on in the background
// until it ends by itself. Until then every further call returns ErrBusy
// at once, so abandoned work and new work never touch the store together.
// One store that hangs therefore never holds back its caller. Guard of a
// guarded store shares its busy state and keeps the shorter deadline.
func Guard(s Store, d time.Duration) Store {
	if d <= 0 {
		d = OpTimeout
	}
	if g, ok := s.(*guarded); ok {
		return &guarded{s: g.s, d: min(d, g.d), flight: g.flight}
	}
	return &guarded{s: s, d: d, flight: &flight{}}
}

type guarded struct {
	s      Store
	d      time.Duration
	flight *flight
}

// flight tracks the one operation that may run on a store.
type flight struct {
	mu      sync.Mutex
	running bool
	what    string
	since   time.Time
}

func (g *guarded) Info() Info       { return g.s.Info() }
func (g *guarded) Watch() WatchSpec { return g.s.Watch() }

// Accepts implements Selector for stores that hold only some
// certificates; the others hold every CA.
func (g *guarded) Accepts(c *x509.Certificate) bool {
	sel, ok := g.s.(Selector)
	return !ok || sel.Accepts(c)
}

func (g *guarded) List(ctx context.Context) ([]Anchor, error) {
	var out []Anchor
	err := g.do(ctx, "list", func(ctx context.Context) (err error) {
		out, err = g.s.List(ctx)
		return err
	})
	return out, err
}

func (g *guarded) Install(ctx context.Context, certs []*x509.Certificate, opt Options) ([]Change, error) {
	var out []Change
	err := g.do(ctx, "install", func(ctx context.Context) (err error) {
		out, err = g.s.Install(ctx, certs, opt)
		return err
	})
	return out, err
}

func (g *guarded) Remove(ctx context.Context, sha256s []string, opt Options) ([]Change, error) {
	var out []Change
	err := g.do(ctx, "remove", func(ctx context.Context) (err error) {
		out, err = g.s.Remove(ctx, sha256s, opt)
		return err
	})
	return out, err
}

// Audit implements Auditor: the store's own Audit when it has one, else
// the plain List and Check, bounded like every other call.
func (g *guarded) Audit(ctx context.Context, want []*x509.Certificate) Result {
	var r Result
	err := g.do(ctx, "audit", func(ctx context.Context) error {
		r = Audit(ctx, g.s, want)
		return nil
	})
	if err != nil {
		return ErrorResult(g.s.Info(), err)
	}
	return r
}

// do runs fn in a goroutine of its own and waits for it, for ctx, or for
// the deadline, whichever comes first.
func (g *guarded) do(ctx context.Context, what string, fn func(context.Context) error) error {
	f := g.flight
	f.mu.Lock()
	if f.running {
		err := fmt.Errorf("%w (%s, running for %s)", ErrBusy, f.what, time.Since(f.since).Round(time.Second))
		if time.Since(f.since) > g.d {
			err = fmt.Errorf("%w: %w", ErrTimeout, err)
		}
		f.mu.Unlock()
		return err
	}
	f.running, f.what, f.since = true, what, time.Now()
	f.mu.Unlock()
	runCtx, cancel := context.WithTimeout(ctx, g.d)
	defer cancel() // abandoned work sees its context end
	done := make(chan error, 1)
	go func() {
		err := fn(runCtx)
		// Free the store before answering: the caller may call again the
		// moment it has the answer.
		f.mu.Lock()
		f.running = false
		f.mu.Unlock()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil && ctx.Err() == nil && errors.Is(runCtx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%s %w (%s): %w", what, ErrTimeout, g.d, err)
		}
		return err
	case <-runCtx.Done():
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s %w (%s); abandoned, still running", what, ErrTimeout, g.d)
	}
}

// AsDistruster returns s as a Distruster when the store behind it is one
// (Guard hides optional interfaces); the calls of a guarded store are
// bounded like its others.
func AsDistruster(s Store) (Distruster, bool) {
	g, ok := s.(*guarded)
	if !ok {
		d, ok := s.(Distruster)
		return d, ok
	}
	if _, ok := g.s.(Distruster); !ok {
		return nil, false
	}
	return guardedDistruster{g}, true
}

type guardedDistruster struct{ g *guarded }

func (d guardedDistruster) Distrust(ctx context.Context, certs []*x509.Certificate, opt Options) ([]Change, error) {
	var out []Change
	err := d.g.do(ctx, "distrust", func(ctx context.Context) (err error) {
		out, err = d.g.s.(Distruster).Distrust(ctx, certs, opt)
		return err
	})
	return out, err
}

func (d guardedDistruster) Undistrust(ctx context.Context, sha256s []string, opt Options) ([]Change, error) {
	var out []Change
	err := d.g.do(ctx, "undistrust", func(ctx context.Context) (err error) {
		out, err = d.g.s.(Distruster).Undistrust(ctx, sha256s, opt)
		return err
	})
	return out, err
}

func (d guardedDistruster) Distrusted(ctx context.Context) ([]Anchor, error) {
	var out []Anchor
	err := d.g.do(ctx, "list distrusted", func(ctx context.Context) (err error) {
		out, err = d.g.s.(Distruster).Distrusted(ctx)
		return err
	})
	return out, err
}
