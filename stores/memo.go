package stores

import (
	"context"
	"sync"
)

// memoKey is the context key of a discovery's memo.
type memoKey struct{}

// memo holds what the adapters of one Discover call share: a value is
// computed by the first adapter that asks for it and handed to the rest.
type memo struct {
	mu sync.Mutex
	m  map[any]*memoEntry
}

type memoEntry struct {
	once sync.Once
	v    any
}

// withMemo returns ctx carrying a fresh memo for one discovery.
func withMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, memoKey{}, &memo{m: map[any]*memoEntry{}})
}

// Shared returns the value compute makes for key, made once per
// Discover call and shared by the adapters it runs concurrently (the
// homes and users of a root, read by every application kind). Outside a
// Discover call it just calls compute. key must be comparable and name
// everything the value depends on (the root, say); the value is shared
// between goroutines, so callers must not modify it.
func Shared[T any](ctx context.Context, key any, compute func() T) T {
	m, ok := ctx.Value(memoKey{}).(*memo)
	if !ok {
		return compute()
	}
	m.mu.Lock()
	e := m.m[key]
	if e == nil {
		e = &memoEntry{}
		m.m[key] = e
	}
	m.mu.Unlock()
	e.once.Do(func() { e.v = compute() })
	v, _ := e.v.(T)
	return v
}
