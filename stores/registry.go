package stores

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Adapter is what a store kind registers: its kind and how to find its
// stores under a root.
type Adapter struct {
	Kind Kind
	// Discover returns every store of this kind on the host. It returns
	// stores it cannot handle too (with Info.Note set) so they are reported
	// rather than silently skipped; it returns an error only when discovery
	// itself failed.
	Discover func(ctx context.Context, env Env) ([]Store, error)
}

// registry is written only from init functions (Register) and read after;
// it is the one piece of package state, as with database/sql drivers.
var registry struct {
	sync.RWMutex
	adapters map[Kind]Adapter
}

// Register makes an adapter known. Call it from the adapter package's init.
// Registering a kind twice panics: it is a programming error.
func Register(a Adapter) {
	registry.Lock()
	defer registry.Unlock()
	if registry.adapters == nil {
		registry.adapters = map[Kind]Adapter{}
	}
	if _, dup := registry.adapters[a.Kind]; dup {
		panic(fmt.Sprintf("stores: adapter %q registered twice", a.Kind))
	}
	registry.adapters[a.Kind] = a
}

// Adapters returns the registered adapters sorted by kind.
func Adapters() []Adapter {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]Adapter, 0, len(registry.adapters))
	for _, a := range registry.adapters {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

// Kinds returns the registered kinds, sorted.
func Kinds() []Kind {
	var ks []Kind
	for _, a := range Adapters() {
		ks = append(ks, a.Kind)
	}
	return ks
}
