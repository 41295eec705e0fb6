package stores

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// ParseKinds parses a --stores value ("system,nss,java"). Empty means every
// registered kind. An unknown kind is an error naming the known ones.
func ParseKinds(s string) ([]Kind, error) {
	known := Kinds()
	if strings.TrimSpace(s) == "" || s == "all" {
		return known, nil
	}
	var out []Kind
	seen := map[Kind]bool{}
	for _, part := range strings.Split(s, ",") {
		k := Kind(strings.TrimSpace(strings.ToLower(part)))
		if k == "" || seen[k] {
			continue
		}
		ok := false
		for _, kk := range known {
			if kk == k {
				ok = true
			}
		}
		if !ok {
			names := make([]string, len(known))
			for i, kk := range known {
				names[i] = string(kk)
			}
			return nil, fmt.Errorf("unknown store kind %q (known: %s)", k, strings.Join(names, ", "))
		}
		seen[k] = true
		out = append(out, k)
	}
	return out, nil
}

// DiscoverError is a failure of one adapter's discovery.
type DiscoverError struct {
	Kind Kind
	Err  error
}

func (e DiscoverError) Error() string { return fmt.Sprintf("discover %s stores: %v", e.Kind, e.Err) }
func (e DiscoverError) Unwrap() error { return e.Err }

// Discover runs the adapters of the given kinds (all when kinds is empty)
// concurrently and returns their stores sorted by id, with duplicates (the
// same id found twice) removed. Failures of single adapters are returned
// beside the stores that were found.
func Discover(ctx context.Context, env Env, kinds []Kind) ([]Store, []error) {
	env = env.Normalize()
	want := map[Kind]bool{}
	for _, k := range kinds {
		want[k] = true
	}
	var (
		mu   sync.Mutex
		all  []Store
		errs []error
		wg   sync.WaitGroup
	)
	for _, a := range Adapters() {
		if len(want) > 0 && !want[a.Kind] {
			continue
		}
		wg.Add(1)
		go func(a Adapter) {
			defer wg.Done()
			ss, err := a.Discover(ctx, env)
			mu.Lock()
			defer mu.Unlock()
			all = append(all, ss...)
			if err != nil {
				errs = append(errs, DiscoverError{Kind: a.Kind, Err: err})
			}
		}(a)
	}
	wg.Wait()
	sort.SliceStable(all, func(i, j int) bool { return all[i].Info().ID < all[j].Info().ID })
	out := all[:0]
	seen := map[string]bool{}
	for _, s := range all {
		id := s.Info().ID
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, s)
	}
	return out, errs
}
