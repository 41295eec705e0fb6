package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/anchorwatch/anchorwatch/stores"
)

// Heal timing.
const (
	debounce        = 10 * time.Millisecond  // quiet time after a change before reading the store
	debounceMax     = 250 * time.Millisecond // a store that keeps changing is read at least this often
	retryMin        = 500 * time.Millisecond // first retry of a failed heal
	retryMax        = 5 * time.Minute
	changeLabelSize = 16

	// A system store is rebuilt by a tool (update-ca-certificates,
	// update-ca-trust) that rewrites the bundle and hundreds of links over
	// about a second, writing every few milliseconds. Reading it mid-run
	// and starting our own refresh beside it would make two refreshes
	// fight over the same files; wait until the directory has been quiet
	// for systemQuiet, however long the run takes (up to systemQuietMax).
	systemQuiet    = 150 * time.Millisecond
	systemQuietMax = 10 * time.Second
)

// quietTimes returns the debounce of a store kind: how long its files
// must be quiet before it is read, and the longest a stream of changes
// may delay that.
func quietTimes(k stores.Kind) (quiet, most time.Duration) {
	if k == stores.KindSystem {
		return systemQuiet, systemQuietMax
	}
	return debounce, debounceMax
}

// worker owns one store: it serializes every read and write of it,
// debounces change notifications and retries failed heals with backoff.
type worker struct {
	a       *Agent
	s       stores.Store
	info    stores.Info
	trigger chan struct{}
	log     *slog.Logger

	mu      sync.Mutex
	result  stores.Result
	anchors []stores.Anchor
	done    bool // reconciled at least once

	cancel context.CancelFunc
	exited chan struct{}
}

func newWorker(a *Agent, s stores.Store) *worker {
	info := s.Info()
	return &worker{
		a: a, s: s, info: info,
		trigger: make(chan struct{}, 1),
		log:     a.log.With("store", info.ID),
		result:  stores.Result{Info: info, Status: stores.StatusError, Detail: "not read yet"},
		exited:  make(chan struct{}),
	}
}

// poke asks the worker to look at its store again; it never blocks.
func (w *worker) poke() {
	select {
	case w.trigger <- struct{}{}:
	default:
	}
}

func (w *worker) snapshot() (stores.Result, []stores.Anchor, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.result, w.anchors, w.done
}

func (w *worker) run(ctx context.Context) {
	defer close(w.exited)
	if n := w.s.Watch().Notifier; n != nil {
		go followNotifier(ctx, n, w.poke, w.log)
	}
	var (
		retry   *time.Timer
		retryC  <-chan time.Time
		backoff = retryMin
	)
	stopRetry := func() {
		if retry != nil {
			retry.Stop()
			retry, retryC = nil, nil
		}
	}
	for {
		select {
		case <-ctx.Done():
			stopRetry()
			return
		case <-w.trigger:
			if !w.settle(ctx) {
				stopRetry()
				return
			}
		case <-retryC:
			retry, retryC = nil, nil
		}
		if w.reconcile(ctx) {
			stopRetry()
			retry = time.NewTimer(backoff)
			retryC = retry.C
			w.log.Info("will retry", "in", backoff.String())
			backoff = min(backoff*2, retryMax)
		} else {
			stopRetry()
			backoff = retryMin
		}
	}
}

// settle waits until the store has been quiet for the debounce time of
// its kind (a tool rewriting a file sends several events), at most the
// kind's maximum.
func (w *worker) settle(ctx context.Context) bool {
	quiet, most := quietTimes(w.info.Kind)
	t := time.NewTimer(quiet)
	defer t.Stop()
	deadline := time.Now().Add(most)
	for {
		select {
		case <-ctx.Done():
			return false
		case <-w.trigger:
			if time.Now().Before(deadline) {
				t.Reset(quiet)
			}
		case <-t.C:
			return true
		}
	}
}

// reconcile brings the store in line with the policy and reports what it
// did. It returns true when something failed and should be retried.
func (w *worker) reconcile(ctx context.Context) (retry bool) {
	info := w.info
	if info.Note != "" {
		w.set(stores.Result{Info: info, Status: stores.StatusError, Detail: info.Note}, nil)
		return false
	}
	t0 := time.Now()
	anchors, err := w.s.List(ctx)
	tList := time.Since(t0)
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		w.log.Warn("cannot read store", "err", err)
		w.set(stores.ErrorResult(info, err), nil)
		return true
	}
	pol := w.a.policyDoc()
	if pol == nil {
		// No policy yet: audit only, for unknown and blocked roots.
		w.set(stores.Result{Info: info, Status: stores.StatusCompliant, Detail: "no policy in force yet", Anchors: anchors}, anchors)
		return false
	}
	now := time.Now()
	want := stores.Select(w.s, pol.Wanted(info.Kind, now))
	res := stores.Check(info, anchors, want)
	known := w.a.state.known(info.ID)
	// The policy's distrust section comes first: in an emergency,
	// refusing the leaked CA matters most (distrust.go).
	distrustEvents, distrustRetry := w.enforceDistrust(ctx, pol, now, want, &anchors, &res)
	w.a.emit(distrustEvents...)
	wantSet := map[string]bool{}
	for _, c := range want {
		wantSet[stores.SHA256(c)] = true
	}
	done := map[string]string{} // sha256 -> what our install did

	// Overtrusted CAs are installed again: the adapter narrows their trust
	// to TLS server authentication.
	if need := append(append(append([]string{}, res.Missing...), res.Untrusted...), res.Overtrusted...); len(need) > 0 {
		var stop bool
		res, anchors, stop = w.heal(ctx, res, anchors, want, need, known, done, tList)
		if stop {
			return ctx.Err() == nil
		}
	}
	removes, removeFailed := w.removeByPolicy(ctx, pol.Removals(now), &res, &anchors, want)

	// What we verified present is the baseline for drift; what is missing
	// stays known so its return is reported as healed.
	next := map[string]bool{}
	for fp := range known {
		if wantSet[fp] {
			next[fp] = true
		}
	}
	for fp := range wantSet {
		if !contains(res.Missing, fp) && !contains(res.Untrusted, fp) {
			next[fp] = true
		}
	}
	if err := w.a.state.setKnown(info.ID, next); err != nil {
		w.log.Warn("cannot save state", "err", err)
	}
	w.closeDrifts(res, anchors, wantSet, removes, done)
	markDistrustedPresent(&res, pol.DistrustTargets(now), anchors, info)
	w.set(res, anchors)
	if len(res.Missing)+len(res.Untrusted) > 0 && info.Writable {
		return true
	}
	return removeFailed || distrustRetry
}

// heal installs the certificates need (fingerprints of want missing,
// untrusted or overtrusted in the store), journaling the heal before the store is
// written (openHeals). It returns the store as it is afterwards; stop is
// true when the heal failed (the result is set and the caller retries).
func (w *worker) heal(ctx context.Context, res stores.Result, anchors []stores.Anchor, want []*x509.Certificate, need []string,
	known map[string]bool, done map[string]string, tList time.Duration) (stores.Result, []stores.Anchor, bool) {
	info := w.info
	w.openHeals(need, known, res)
	if !info.Writable {
		w.log.Warn("store is missing our CA but is read-only", "missing", len(need))
		return res, anchors, false
	}
	byFP := map[string]*x509.Certificate{}
	for _, c := range want {
		byFP[stores.SHA256(c)] = c
	}
	certs := make([]*x509.Certificate, 0, len(need))
	for _, fp := range need {
		certs = append(certs, byFP[fp])
	}
	t1 := time.Now()
	changes, err := w.s.Install(ctx, certs, stores.Options{Watched: true})
	w.log.Debug("install", "took", time.Since(t1).String(), "list_took", tList.String())
	if err != nil {
		if ctx.Err() != nil {
			return res, anchors, true
		}
		w.log.Error("heal failed", "err", err)
		switch {
		case errors.Is(err, stores.ErrNeedsMDM):
			res.Status, res.Detail = stores.StatusNeedsMDM, err.Error()
		case errors.Is(err, stores.ErrUnsafe), errors.Is(err, stores.ErrTimeout), errors.Is(err, stores.ErrBusy):
			// We cannot fix it: say why, not just what is missing.
			res.Status, res.Detail = stores.StatusError, res.Detail+"; not healed: "+err.Error()
		}
		w.failed(need, "heal", err)
		w.set(res, anchors)
		return res, anchors, true
	}
	for _, ch := range changes {
		if ch.Action != stores.ActionUnchanged {
			done[ch.SHA256] = ch.Action
		}
	}
	after, err := w.s.List(ctx)
	if err != nil {
		w.set(stores.ErrorResult(info, err), nil)
		return res, anchors, true
	}
	return stores.Check(info, after, want), after, false
}

// removeByPolicy removes what the policy removes (never a vendor root or
// one another manager, GPO, owns), journaling each removal first. It
// updates res and anchors, and returns the fingerprints the policy
// removes and whether a removal failed.
func (w *worker) removeByPolicy(ctx context.Context, removals []string, res *stores.Result, anchors *[]stores.Anchor, want []*x509.Certificate) (map[string]bool, bool) {
	removes := map[string]bool{}
	var remove []string
	for _, fp := range removals {
		removes[fp] = true
		for _, an := range *anchors {
			if an.SHA256 != fp {
				continue
			}
			if an.Vendor || an.ManagedBy != "" {
				w.log.Warn("policy removes a certificate this store ships or another manager owns: left alone", "sha256", short(fp))
				delete(removes, fp)
				continue
			}
			remove = append(remove, fp)
			break
		}
	}
	if len(remove) == 0 || !w.info.Writable {
		return removes, false
	}
	w.openRemovals(remove)
	if _, err := w.s.Remove(ctx, remove, stores.Options{Watched: true}); err != nil {
		if ctx.Err() == nil {
			w.log.Error("policy removal failed", "err", err)
			w.failed(remove, "remove", err)
		}
		return removes, true
	}
	if a2, err := w.s.List(ctx); err == nil {
		*anchors = a2
		*res = stores.Check(w.info, a2, want)
	}
	return removes, false
}

func (w *worker) set(r stores.Result, anchors []stores.Anchor) {
	w.mu.Lock()
	w.result, w.anchors, w.done = r, anchors, true
	w.mu.Unlock()
	w.a.changed()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// followNotifier turns a store's platform change notifications
// (RegNotifyChangeKeyValue on Windows, keychain events on macOS) into pokes
// of its worker until ctx ends. When the notifier fails, the rescan
// interval still covers the store; the failure is logged once.
func followNotifier(ctx context.Context, n stores.Notifier, poke func(), log *slog.Logger) {
	changed := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				poke()
			}
		}
	}()
	if err := n.Notify(ctx, changed); err != nil && ctx.Err() == nil {
		log.Warn("store change notifications stopped; the periodic rescan still covers this store", "err", err)
	}
	<-done
}
