package stores

import (
	"context"
	"fmt"
	"sort"
	"strings"
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
// same id found twice) removed, each wrapped by Guard so that no
// operation on one can hang its caller. Failures of single adapters are
// returned beside the stores that were found; an adapter still running
// after DiscoverTimeout is reported with ErrTimeout and abandoned.
func Discover(ctx context.Context, env Env, kinds []Kind) ([]Store, []error) {
	env = env.Normalize()
	want := map[Kind]bool{}
	for _, k := range kinds {
		want[k] = true
	}
	type found struct {
		kind Kind
		ss   []Store
		err  error
	}
	ctx, cancel := context.WithTimeout(withMemo(ctx), DiscoverTimeout)
	defer cancel()
	results := make(chan found, len(Adapters())) // abandoned adapters never block on it
	pending := map[Kind]int{}
	for _, a := range Adapters() {
		if len(want) > 0 && !want[a.Kind] {
			continue
		}
		pending[a.Kind]++
		go func(a Adapter) {
			ss, err := a.Discover(ctx, env)
			results <- found{a.Kind, ss, err}
		}(a)
	}
	var (
		all  []Store
		errs []error
	)
	for n := sumOf(pending); n > 0; n-- {
		select {
		case f := <-results:
			pending[f.kind]--
			all = append(all, f.ss...)
			if f.err != nil {
				errs = append(errs, DiscoverError{Kind: f.kind, Err: f.err})
			}
		case <-ctx.Done():
			for k, left := range pending {
				if left > 0 {
					errs = append(errs, DiscoverError{Kind: k, Err: fmt.Errorf("%w (%s): %w", ErrTimeout, DiscoverTimeout, ctx.Err())})
				}
			}
			n = 0
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Info().ID < all[j].Info().ID })
	out := all[:0]
	seen := map[string]bool{}
	for _, s := range all {
		id := s.Info().ID
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, Guard(s, OpTimeout))
	}
	return out, errs
}

func sumOf(m map[Kind]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
