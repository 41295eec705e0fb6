package stores

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

// stuck is a store whose List blocks until released, whatever its
// context says: a read from a hung mount.
type stuck struct {
	release chan struct{}
	entered chan struct{}
}

func (s *stuck) Info() Info       { return Info{ID: "test:stuck", Kind: "test"} }
func (s *stuck) Watch() WatchSpec { return WatchSpec{} }
func (s *stuck) List(context.Context) ([]Anchor, error) {
	s.entered <- struct{}{}
	<-s.release
	return nil, nil
}
func (s *stuck) Install(context.Context, []*x509.Certificate, Options) ([]Change, error) {
	return nil, nil
}
func (s *stuck) Remove(context.Context, []string, Options) ([]Change, error) { return nil, nil }

func TestGuardAbandonsStuckWork(t *testing.T) {
	inner := &stuck{release: make(chan struct{}), entered: make(chan struct{}, 4)}
	g := Guard(inner, 200*time.Millisecond)
	_, err := g.List(context.Background())
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("List: %v, want ErrTimeout", err)
	}
	// The abandoned List still runs: nothing else may touch the store.
	if _, err := g.Install(context.Background(), nil, Options{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("Install while the List runs: %v, want ErrBusy", err)
	}
	if r := Audit(context.Background(), g, nil); r.Status != StatusError {
		t.Fatalf("Audit while the List runs: %+v", r)
	}
	// A second guard on the same store shares that knowledge.
	if _, err := Guard(g, time.Hour).List(context.Background()); !errors.Is(err, ErrBusy) {
		t.Fatalf("List through another guard: %v, want ErrBusy", err)
	}
	close(inner.release)
	for i := 0; i < 100; i++ {
		if _, err := g.List(context.Background()); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the store stayed busy after the stuck call returned")
}

func TestGuardFollowsContext(t *testing.T) {
	inner := &stuck{release: make(chan struct{}), entered: make(chan struct{}, 1)}
	defer close(inner.release)
	g := Guard(inner, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-inner.entered; cancel() }()
	if _, err := g.List(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("List: %v, want context.Canceled", err)
	}
}

// quick is a store whose calls return at once.
type quick struct{ stuck }

func (quick) List(context.Context) ([]Anchor, error) { return nil, nil }

// A call made the moment the previous one returned never finds the store
// busy.
func TestGuardBackToBack(t *testing.T) {
	g := Guard(&quick{}, time.Minute)
	for i := 0; i < 10000; i++ {
		if _, err := g.List(context.Background()); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

// distrusting is a store that can distrust; its Distrusted hangs until
// released, to show the guarded call is bounded.
type distrusting struct {
	quick
	release chan struct{}
}

func (*distrusting) Distrust(context.Context, []*x509.Certificate, Options) ([]Change, error) {
	return []Change{{SHA256: "ab", Action: ActionDistrusted}}, nil
}
func (*distrusting) Undistrust(context.Context, []string, Options) ([]Change, error) { return nil, nil }
func (d *distrusting) Distrusted(context.Context) ([]Anchor, error) {
	<-d.release
	return nil, nil
}

// TestAsDistrusterThroughGuard: Guard hides the optional interface from a
// type assertion; AsDistruster finds it behind the guard (and not on a
// store that lacks it), and bounds its calls like the others.
func TestAsDistrusterThroughGuard(t *testing.T) {
	if _, ok := Guard(&quick{}, time.Second).(Distruster); ok {
		t.Fatal("the guard itself claims to be a Distruster")
	}
	if _, ok := AsDistruster(Guard(&quick{}, time.Second)); ok {
		t.Error("AsDistruster found distrust on a store without it")
	}
	d := &distrusting{release: make(chan struct{})}
	defer close(d.release)
	dis, ok := AsDistruster(Guard(d, 50*time.Millisecond))
	if !ok {
		t.Fatal("AsDistruster lost the Distruster behind the guard")
	}
	if cs, err := dis.Distrust(context.Background(), nil, Options{}); err != nil || len(cs) != 1 || cs[0].Action != ActionDistrusted {
		t.Errorf("Distrust = %v, %v", cs, err)
	}
	if _, err := dis.Distrusted(context.Background()); !errors.Is(err, ErrTimeout) {
		t.Errorf("a hung Distrusted = %v, want ErrTimeout", err)
	}
}
