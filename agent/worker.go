package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/anchorwatch/anchorwatch/server/api"
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
	var events []api.Event

	needFP := append(append([]string{}, res.Missing...), res.Untrusted...)
	if len(needFP) > 0 {
		byFP := map[string]*x509.Certificate{}
		for _, c := range want {
			byFP[stores.SHA256(c)] = c
		}
		var need []*x509.Certificate
		for _, fp := range needFP {
			need = append(need, byFP[fp])
			if known[fp] {
				detail := "our CA is no longer in the store"
				if contains(res.Untrusted, fp) {
					detail = "our CA is no longer trusted for TLS server authentication"
				}
				events = append(events, w.a.event(api.EventRemoved, info.ID, fp, detail))
			}
		}
		if !info.Writable {
			w.log.Warn("store is missing our CA but is read-only", "missing", len(need))
		} else {
			t1 := time.Now()
			changes, err := w.s.Install(ctx, need, stores.Options{Watched: true})
			w.log.Debug("install", "took", time.Since(t1).String(), "list_took", tList.String())
			if err != nil {
				if ctx.Err() != nil {
					return false
				}
				w.log.Error("heal failed", "err", err)
				switch {
				case errors.Is(err, stores.ErrNeedsMDM):
					res.Status, res.Detail = stores.StatusNeedsMDM, err.Error()
				case errors.Is(err, stores.ErrUnsafe), errors.Is(err, stores.ErrTimeout), errors.Is(err, stores.ErrBusy):
					// We cannot fix it: say why, not just what is missing.
					res.Status, res.Detail = stores.StatusError, res.Detail+"; not healed: "+err.Error()
				}
				for _, fp := range needFP {
					events = append(events, w.a.event(api.EventHealFailed, info.ID, fp, err.Error()))
				}
				w.set(res, anchors)
				w.a.emit(events...)
				return true
			}
			for _, ch := range changes {
				if ch.Action == stores.ActionUnchanged {
					continue
				}
				typ, detail := api.EventInstalled, "installed "+ch.Action
				if known[ch.SHA256] {
					typ, detail = api.EventHealed, "put back ("+ch.Action+")"
				}
				events = append(events, w.a.event(typ, info.ID, ch.SHA256, detail))
				w.log.Info(typ, "sha256", ch.SHA256[:changeLabelSize], "action", ch.Action)
			}
			if anchors, err = w.s.List(ctx); err != nil {
				w.set(stores.ErrorResult(info, err), nil)
				w.a.emit(events...)
				return true
			}
			res = stores.Check(info, anchors, want)
		}
	}

	// Removals the policy asks for, never a vendor root or one another
	// manager (GPO) owns.
	var remove []string
	for _, fp := range pol.Removals(now) {
		for _, an := range anchors {
			if an.SHA256 != fp {
				continue
			}
			if an.Vendor || an.ManagedBy != "" {
				w.log.Warn("policy removes a certificate this store ships or another manager owns: left alone", "sha256", fp[:changeLabelSize])
				continue
			}
			remove = append(remove, fp)
			break
		}
	}
	if len(remove) > 0 && info.Writable {
		changes, err := w.s.Remove(ctx, remove, stores.Options{Watched: true})
		if err != nil {
			w.log.Error("policy removal failed", "err", err)
			for _, fp := range remove {
				events = append(events, w.a.event(api.EventHealFailed, info.ID, fp, "remove: "+err.Error()))
			}
			retry = true
		} else {
			for _, ch := range changes {
				if ch.Action == stores.ActionRemoved {
					events = append(events, w.a.event(api.EventRemovedByPol, info.ID, ch.SHA256, "removed as the policy asks"))
				}
			}
			if a2, err := w.s.List(ctx); err == nil {
				anchors = a2
				res = stores.Check(info, anchors, want)
			}
		}
	}

	// What we verified present is the baseline for drift; what is missing
	// stays known so its return is reported as healed.
	next := map[string]bool{}
	wantSet := map[string]bool{}
	for _, c := range want {
		wantSet[stores.SHA256(c)] = true
	}
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
	w.set(res, anchors)
	w.a.emit(events...)
	if len(res.Missing)+len(res.Untrusted) > 0 && info.Writable {
		return true
	}
	return retry
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
