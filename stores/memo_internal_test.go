package stores

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
)

func TestSharedComputesOncePerDiscovery(t *testing.T) {
	type key struct{ root string }
	var calls atomic.Int32
	compute := func(v string) func() []string {
		return func() []string { calls.Add(1); return []string{v} }
	}
	ctx := withMemo(context.Background())
	var wg sync.WaitGroup
	got := make([][]string, 16)
	for i := range got {
		wg.Go(func() { got[i] = Shared(ctx, key{"/a"}, compute("a")) })
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("16 concurrent callers computed %d times, want once", n)
	}
	for _, g := range got {
		if len(g) != 1 || g[0] != "a" {
			t.Fatalf("a caller got %v", g)
		}
	}
	if v := Shared(ctx, key{"/b"}, compute("b")); v[0] != "b" || calls.Load() != 2 {
		t.Fatalf("another key shared the first value: %v (%d calls)", v, calls.Load())
	}
	other := withMemo(context.Background()) // the next Discover call
	if v := Shared(other, key{"/a"}, compute("a2")); v[0] != "a2" {
		t.Fatalf("a new discovery reused the last one's value %v", v)
	}
	calls.Store(0)
	Shared(context.Background(), key{"/a"}, compute("x"))
	Shared(context.Background(), key{"/a"}, compute("x"))
	if n := calls.Load(); n != 2 {
		t.Fatalf("outside a discovery: %d computations, want 2 (no memo)", n)
	}
}
