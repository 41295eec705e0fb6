package appstore

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// Parallel calls work(i) for every i below n on at most GOMAXPROCS
// goroutines (never more than 4) and returns when all calls have. The
// work of discovery is system calls on many small directories; one
// goroutine per core keeps every core busy while another kind's adapter
// has finished (BenchmarkAppStores in cmd/anchorwatch measures it).
// Calls not yet started when ctx ends are skipped; each i is one slot
// of the caller's result slice, so no locking is needed there.
func Parallel(ctx context.Context, n int, work func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), 4, n)
	if workers <= 1 {
		for i := 0; i < n && ctx.Err() == nil; i++ {
			work(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				work(i)
			}
		})
	}
	wg.Wait()
}
