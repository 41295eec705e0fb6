package appstore

import (
	"context"
	"sync/atomic"
	"testing"
)

func TestParallelRunsEachIndexOnce(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 100} {
		counts := make([]atomic.Int32, n)
		Parallel(context.Background(), n, func(i int) { counts[i].Add(1) })
		for i := range counts {
			if c := counts[i].Load(); c != 1 {
				t.Fatalf("n=%d: index %d ran %d times", n, i, c)
			}
		}
	}
}

func TestParallelStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Int32
	Parallel(ctx, 1000, func(i int) {
		if ran.Add(1) == 3 {
			cancel()
		}
	})
	if n := ran.Load(); n >= 1000 {
		t.Fatalf("all %d calls ran after cancel", n)
	}
}
