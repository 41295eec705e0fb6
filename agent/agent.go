package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/api/client"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/inventory"
)

// Options configure an Agent beyond its Config.
type Options struct {
	Config *Config
	// Root overrides Config.Root (the --root flag).
	Root    string
	Version string
	Log     *slog.Logger
	// Reload, when it receives, makes the agent rescan every store and
	// fetch the policy (SIGHUP).
	Reload <-chan struct{}
	// Events, when set, receives a copy of every event as it is emitted
	// (tests and benchmarks). The agent blocks until it is received.
	Events chan<- api.Event
	// Discover finds the stores; nil means stores.Discover.
	Discover func(ctx context.Context, env stores.Env, kinds []stores.Kind) ([]stores.Store, []error)
	// StoreTimeout bounds each operation on one store (stores.Guard); a
	// store still busy past it is reported as an error and abandoned.
	// 0 means stores.OpTimeout.
	StoreTimeout time.Duration
}

// Agent is the running daemon. Build it with New, run it with Run.
type Agent struct {
	opt     Options
	cfg     *Config
	log     *slog.Logger
	root    string
	state   *stateDir
	spool   *Spool
	client  *client.Client
	journal *journal      // events until they are spooled, heals under way
	dl      deliveryStats // what was dropped (delivery.go)
	// stopping: Run is ending; events are no longer handed to Options.Events.
	stopping atomic.Bool

	pol atomic.Pointer[policy.Document]

	mu          sync.Mutex
	pins        pins // the policy signers accepted (signers.go)
	polBlob     []byte
	rejected    string // sha256 of the last refused blob, to report it once
	policyETag  string // ETag of the last blob fetched (applied or refused)
	workers     map[string]*worker
	prevRoots   map[string]inventory.Class // sha256 -> class of the last report
	lastSent    time.Time
	lastDeliver time.Time
	lastErr     string
	polProblem  string
	facts       api.HostFacts

	polSignedAt time.Time // signing time of the policy in force
	polState    string    // PolicyValid, PolicyExpiring, PolicyExpired (last reported)
	// enrollConflict is the collector's word on a flagged enrollment;
	// keyChecked: the host key was bound (or tried) in this run.
	enrollConflict string
	keyChecked     bool

	changedC   chan struct{}
	kickSend   chan struct{}
	retryNow   chan struct{} // deliver now, even while backing off (SIGHUP)
	policyHint chan struct{}
	enrolledC  chan struct{} // a node key was obtained (policywait.go)
}

// New checks the configuration, opens the state directory and loads the
// pinned signer. It does not touch any store.
func New(opt Options) (*Agent, error) {
	if opt.Config == nil {
		return nil, errors.New("agent: no config")
	}
	cfg := opt.Config
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Discover == nil {
		opt.Discover = stores.Discover
	}
	root := cfg.Root
	if opt.Root != "" {
		root = opt.Root
	}
	if root == "" {
		root = "/"
	}
	signers, err := policy.LoadCertificates(cfg.PolicySignerFile)
	if err != nil {
		return nil, fmt.Errorf("agent: policy signer: %w", err)
	}
	if cfg.PolicySignaturesRequired > len(signers) {
		return nil, fmt.Errorf("agent: policy_signatures_required is %d, but policy_signer_file pins %d signer(s)", cfg.PolicySignaturesRequired, len(signers))
	}
	st, err := openStateDir(cfg.stateDir())
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	pins, note := st.loadPins(signers)
	if note != "" {
		opt.Log.Warn("policy signers: " + note)
	}
	sp, err := OpenSpool(st.path(dirSpool), cfg.SpoolMaxReports, cfg.SpoolMaxBytes, opt.Log)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	cl, err := client.New(client.Config{URL: cfg.CollectorURL, CAFile: cfg.CollectorCAFile, Fingerprint: cfg.CollectorFingerprint})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	a := &Agent{
		opt: opt, cfg: cfg, log: opt.Log, root: root, pins: pins,
		state: st, spool: sp, client: cl,
		workers:    map[string]*worker{},
		changedC:   make(chan struct{}, 1),
		kickSend:   make(chan struct{}, 1),
		retryNow:   make(chan struct{}, 1),
		policyHint: make(chan struct{}, 1),
		enrolledC:  make(chan struct{}, 1),
	}
	a.openJournal() // delivery.go
	return a, nil
}

func (a *Agent) policyDoc() *policy.Document { return a.pol.Load() }

func (a *Agent) heldSerial() int64 {
	if d := a.pol.Load(); d != nil {
		return d.Serial
	}
	return 0
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (a *Agent) changed() { signal(a.changedC) }

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (a *Agent) event(typ api.EventType, storeID, fp, detail string) api.Event {
	return api.Event{ID: newID(), Time: time.Now().UTC(), Type: typ, StoreID: clean(storeID), SHA256: fp, Detail: clean(detail)}
}

// clean makes a string acceptable to the collector: no NUL byte, at most
// api.MaxStringLen bytes, valid UTF-8.
func clean(s string) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) > api.MaxStringLen {
		s = strings.ToValidUTF8(s[:api.MaxStringLen-3], "") + "..."
	}
	return s
}

// emit journals events for the next report.
func (a *Agent) emit(evs ...api.Event) {
	if len(evs) == 0 {
		return
	}
	a.emitBatch(journalBatch{Events: evs})
}

// emitBatch journals b and announces its events for the next report.
func (a *Agent) emitBatch(b journalBatch) {
	a.journalEvents(b, slog.LevelInfo)
	if len(b.Events) > 0 {
		a.changed()
	}
}

// journalEvents is the one way an event enters delivery (delivery.go):
// journaled first, then logged at level and handed to Options.Events.
func (a *Agent) journalEvents(b journalBatch, level slog.Level) {
	a.record(b)
	for _, e := range b.Events {
		a.log.Log(context.Background(), level, "event", "type", e.Type, "store", e.StoreID, "sha256", e.SHA256, "detail", e.Detail)
		a.tell(e)
	}
}

// tell hands an event to Options.Events, unless the agent is stopping
// (nobody may be receiving any more).
func (a *Agent) tell(e api.Event) {
	if a.opt.Events != nil && !a.stopping.Load() {
		a.opt.Events <- e
	}
}

// Run runs the agent until ctx is done.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer a.client.Close()
	a.loadStoredPolicy()
	w, err := newWatcher(a.log)
	if err != nil {
		return fmt.Errorf("agent: file watch: %w", err)
	}
	defer w.close()
	facts := Facts(a.root, a.state.dir, a.opt.Version)
	a.mu.Lock()
	a.facts = facts
	a.mu.Unlock()

	defer a.journal.close()
	defer a.queueOnStop() // after the loops below have ended
	var wg sync.WaitGroup
	a.startLoops(ctx, w, &wg)
	defer wg.Wait()
	defer cancel()

	a.rediscover(ctx, w, true)
	a.log.Info("agent started", "root", a.root, "state_dir", a.state.dir, "policy_serial", a.heldSerial(),
		"collector", a.cfg.CollectorURL)
	a.mainLoop(ctx, w)
	return nil
}

// startLoops starts the watcher and the agent's loops, each counted in wg.
func (a *Agent) startLoops(ctx context.Context, w *watcher, wg *sync.WaitGroup) {
	wg.Add(3)
	go func() { defer wg.Done(); w.run(ctx) }()
	go func() { defer wg.Done(); a.reportLoop(ctx) }()
	go func() { defer wg.Done(); a.sendLoop(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); a.reachLoop(ctx) }() // reach.go
	if a.cfg.longPoll() {
		wg.Add(1)
		go func() { defer wg.Done(); a.policyWaitLoop(ctx) }() // policywait.go
	}
}

// policyTimers fire at the policy's own times: its expiry (warn before,
// report after; expiry.go) and the next start or end of one of its CAs.
type policyTimers struct {
	a       *Agent
	expiry  *time.Timer
	rotate  *time.Timer
	rotateC <-chan time.Time
}

func newPolicyTimers(a *Agent) *policyTimers {
	t := &policyTimers{a: a, expiry: time.NewTimer(time.Hour)}
	t.expiry.Stop()
	return t
}

// armExpiry sets the expiry timer to the next expiry check.
func (t *policyTimers) armExpiry() {
	t.expiry.Stop()
	if next := t.a.checkExpiry(time.Now()); !next.IsZero() {
		t.expiry.Reset(time.Until(next))
	}
}

// arm sets both timers for the policy in force.
func (t *policyTimers) arm() {
	t.armExpiry()
	if t.rotate != nil {
		t.rotate.Stop()
		t.rotateC = nil
	}
	if d := t.a.policyDoc(); d != nil {
		if next := d.NextChange(time.Now()); !next.IsZero() {
			t.rotate = time.NewTimer(time.Until(next) + time.Second)
			t.rotateC = t.rotate.C
		}
	}
}

func (t *policyTimers) stop() {
	t.expiry.Stop()
	if t.rotate != nil {
		t.rotate.Stop()
	}
}

// mainLoop rescans, rediscovers and applies new policies until ctx is
// done, then stops the workers.
func (a *Agent) mainLoop(ctx context.Context, w *watcher) {
	rescan := time.NewTimer(a.rescanInterval())
	defer rescan.Stop()
	pt := newPolicyTimers(a)
	defer pt.stop()
	pt.arm()
	// Discovery after a change where stores appear: once the directory has
	// been quiet for discoverQuiet, then again after each follow-up delay
	// (a runtime being unpacked writes its cacerts well after creating
	// its directory).
	disc := time.NewTimer(time.Hour)
	disc.Stop()
	defer disc.Stop()
	// Once a reconcile has settled, give the memory it used back to the
	// system: an idle agent should stay small.
	trim := time.NewTimer(trimAfter)
	defer trim.Stop()
	var follow []time.Duration
	for {
		select {
		case <-ctx.Done():
			a.stopWorkers()
			return
		case <-w.discC:
			disc.Reset(discoverQuiet)
			follow = []time.Duration{2 * time.Second, 10 * time.Second}
		case <-disc.C:
			a.log.Debug("a directory where stores appear changed: discovering")
			a.rediscover(ctx, w, false)
			if len(follow) > 0 {
				disc.Reset(follow[0])
				follow = follow[1:]
			}
		case <-trim.C:
			debug.FreeOSMemory()
		case <-rescan.C:
			trim.Reset(trimAfter)
			a.log.Debug("rescan")
			if a.fetchPolicy(ctx, w) {
				pt.arm()
			}
			a.rediscover(ctx, w, true)
			rescan.Reset(a.rescanInterval())
		case <-a.opt.Reload:
			a.log.Info("reload requested: rescanning every store")
			signal(a.retryNow)
			if a.fetchPolicy(ctx, w) {
				pt.arm() // a new policy may end a CA at a new time
			}
			a.rediscover(ctx, w, true)
			rescan.Reset(a.rescanInterval())
		case <-a.policyHint:
			if a.fetchPolicy(ctx, w) {
				pt.arm()
				rescan.Reset(a.rescanInterval())
			}
		case <-pt.expiry.C:
			pt.armExpiry()
		case <-pt.rotateC:
			a.log.Info("policy rotation time reached: reconciling every store")
			pt.arm()
			a.pokeAll()
		}
	}
}

// trimAfter is how long after the start and after each rescan the agent
// returns unused memory to the system.
const trimAfter = 20 * time.Second

// discoverQuiet is how long a directory where stores appear must be
// quiet before discovery runs.
const discoverQuiet = 200 * time.Millisecond

func (a *Agent) rescanInterval() time.Duration {
	if d := time.Duration(a.cfg.RescanInterval); d > 0 {
		return d
	}
	if d := a.policyDoc(); d != nil {
		return d.Rescan()
	}
	return policy.DefaultRescanInterval
}

func (a *Agent) heartbeatInterval() time.Duration {
	if d := time.Duration(a.cfg.HeartbeatInterval); d > 0 {
		return d
	}
	if d := a.policyDoc(); d != nil {
		return d.Heartbeat()
	}
	return policy.DefaultHeartbeatInterval
}

// loadStoredPolicy re-verifies the last good policy kept on disk.
func (a *Agent) loadStoredPolicy() {
	blob, err := a.state.policyBlob()
	if err != nil || blob == nil {
		if err != nil {
			a.log.Error("cannot read the stored policy", "err", err)
		}
		return
	}
	// The policy held stays in force past its own expiry (reported by
	// checkExpiry), and past its signer's.
	v, err := policy.Verify(blob, a.verifyOpts(true))
	if err != nil {
		a.log.Error("the stored policy does not verify: ignoring it", "err", err)
		a.setPolicyProblem("stored policy: " + err.Error())
		a.emit(a.event(api.EventPolicyRejected, "", "", "stored policy: "+err.Error()))
		return
	}
	a.adoptPins(v)
	if time.Now().After(v.Signer.NotAfter) {
		a.log.Warn("the policy signer has expired: the stored policy stays in force, but no new one will be accepted until a new signer is pinned",
			"not_after", v.Signer.NotAfter)
	}
	a.mu.Lock()
	a.polBlob = blob
	a.polSignedAt = v.SignedAt
	a.mu.Unlock()
	a.pol.Store(v.Document)
}

func (a *Agent) setPolicyProblem(s string) {
	a.mu.Lock()
	a.polProblem = s
	a.mu.Unlock()
}

// fetchPolicy gets the collector's policy and applies it when it is newer
// and verifies. It reports whether a new policy was applied.
func (a *Agent) fetchPolicy(ctx context.Context, w *watcher) bool {
	key := a.state.nodeKey()
	if key == "" {
		return false
	}
	a.mu.Lock()
	etag := a.policyETag
	a.mu.Unlock()
	blob, etag, err := a.client.Policy(ctx, key, etag)
	if errors.Is(err, client.ErrNotModified) {
		a.log.Debug("policy unchanged at the collector")
		return false
	}
	if errors.Is(err, client.ErrNoPolicy) {
		a.log.Debug("no policy published yet")
		return false
	}
	if err != nil {
		a.log.Warn("cannot fetch the policy; the one in force stays", "err", err)
		var ae *client.APIError
		if errors.As(err, &ae) && ae.Said(api.ErrNodeInvalid) {
			_ = a.state.setNodeKey("")
			signal(a.kickSend)
		}
		return false
	}
	sum := sha256.Sum256(blob)
	digest := hex.EncodeToString(sum[:])
	a.mu.Lock()
	same := bytes.Equal(blob, a.polBlob)
	seen := a.rejected == digest
	a.policyETag = etag
	a.mu.Unlock()
	if same || seen {
		return false
	}
	v, err := policy.Verify(blob, a.verifyOpts(false))
	if err == nil {
		err = checkNextSigners(v.Document, a.cfg.PolicySignaturesRequired)
	}
	if err != nil {
		a.mu.Lock()
		a.rejected = digest
		a.mu.Unlock()
		a.log.Warn("policy rejected; the last good policy stays in force", "err", err, "held_serial", a.heldSerial())
		a.setPolicyProblem(err.Error())
		a.emit(a.event(api.EventPolicyRejected, "", "", err.Error()))
		return false
	}
	if err := a.state.setPolicyBlob(blob); err != nil {
		a.log.Error("cannot store the new policy; not applying it", "err", err)
		return false
	}
	a.adoptPins(v)
	a.mu.Lock()
	a.polBlob = blob
	a.polProblem = ""
	a.polSignedAt = v.SignedAt
	a.polState = ""
	a.mu.Unlock()
	a.pol.Store(v.Document)
	a.log.Info("policy applied", "serial", v.Document.Serial, "anchors", len(v.Document.Anchors))
	a.emit(a.event(api.EventPolicyApplied, "", "", fmt.Sprintf("serial %d", v.Document.Serial)))
	// Java passwords may have changed: rebuild every store.
	a.stopWorkers()
	a.rediscover(ctx, w, true)
	return true
}

// rediscover finds the stores, starts workers for new ones, stops those
// of stores that went away and re-arms the watches. With poke, every
// worker reconciles.
func (a *Agent) rediscover(ctx context.Context, w *watcher, poke bool) {
	env := stores.Env{Root: a.root, Log: a.log}
	if d := a.policyDoc(); d != nil {
		env.JavaPasswords = d.JavaPasswords
	}
	found, errs := a.opt.Discover(ctx, env, a.cfg.Stores)
	failed := map[stores.Kind]bool{} // kinds whose discovery failed keep their workers
	for _, err := range errs {
		a.log.Warn("store discovery", "err", err)
		var de stores.DiscoverError
		if errors.As(err, &de) {
			failed[de.Kind] = true
		}
	}
	keep := map[string]bool{}
	var fresh []*worker
	a.mu.Lock()
	for id, wk := range a.workers {
		keep[id] = failed[wk.info.Kind]
	}
	for _, s := range found {
		id := s.Info().ID
		keep[id] = true
		if _, ok := a.workers[id]; ok {
			continue
		}
		wk := newWorker(a, stores.Guard(s, a.opt.StoreTimeout))
		wctx, cancel := context.WithCancel(ctx)
		wk.cancel = cancel
		a.workers[id] = wk
		go wk.run(wctx)
		fresh = append(fresh, wk)
		a.log.Debug("store found", "store", id)
	}
	var stopped []*worker
	for id, wk := range a.workers {
		if !keep[id] {
			delete(a.workers, id)
			stopped = append(stopped, wk)
		}
	}
	list := a.workerListLocked()
	a.mu.Unlock()
	for _, wk := range stopped {
		wk.cancel()
		<-wk.exited
	}
	w.set(list, discoveryDirs(a.root, a.cfg.Stores))
	if poke {
		fresh = list
	}
	for _, wk := range fresh {
		wk.poke()
	}
	a.changed()
}

func (a *Agent) workerListLocked() []*worker {
	list := make([]*worker, 0, len(a.workers))
	for _, wk := range a.workers {
		list = append(list, wk)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].info.ID < list[j].info.ID })
	return list
}

func (a *Agent) pokeAll() {
	a.mu.Lock()
	list := a.workerListLocked()
	a.mu.Unlock()
	for _, wk := range list {
		wk.poke()
	}
}

func (a *Agent) stopWorkers() {
	a.mu.Lock()
	var stop []*worker
	for id, wk := range a.workers {
		stop = append(stop, wk)
		delete(a.workers, id)
	}
	a.mu.Unlock()
	for _, wk := range stop {
		wk.cancel()
		<-wk.exited
	}
}

// reportLoop turns state changes and events into reports in the spool.
func (a *Agent) reportLoop(ctx context.Context) {
	hb := time.NewTimer(a.heartbeatInterval())
	defer hb.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.changedC:
			// Let a burst of changes (a heal and its re-read) settle.
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			if a.report(false) {
				hb.Reset(a.heartbeatInterval())
			}
		case <-hb.C:
			a.report(true)
			hb.Reset(a.heartbeatInterval())
		}
	}
}

// report builds a report and spools it: a full one when the state or the
// host facts changed or events are pending, a heartbeat when due. It
// returns whether something was spooled.
func (a *Agent) report(heartbeatDue bool) bool {
	statuses, snap, ready := a.storeStatuses()
	if !ready && !heartbeatDue {
		return false // a worker has not read its store yet: wait for it
	}
	if len(statuses) > api.MaxStores {
		a.log.Warn("more stores than a report may carry: the rest are left out", "stores", len(statuses), "max", api.MaxStores)
		statuses = statuses[:api.MaxStores]
	}
	pol := a.policyDoc()
	roots := a.reportRoots(statuses, snap, pol)
	// Roots that appeared since the last report are events like any other.
	a.journalEvents(journalBatch{Events: a.newRootEvents(roots, ready)}, slog.LevelWarn)

	cas, serial := activeCAs(pol)
	hash := stateHash(statuses, roots, cas, serial)
	facts, factsHash := a.reportFacts(heartbeatDue)
	events := a.journal.pendingEvents()
	lastHash, lastFacts := a.state.hashes()
	r := api.ReportRequest{
		ReportID:     newID(),
		GeneratedAt:  time.Now().UTC(),
		PolicySerial: serial,
		StateHash:    hash,
		Events:       events,
	}
	switch {
	case hash != lastHash || len(events) > 0 || factsHash != lastFacts:
		r.Kind = api.ReportFull
		r.Stores, r.UnknownRoots, r.CAs = statuses, roots, cas
		if factsHash != lastFacts {
			r.Host = &facts
		}
	case heartbeatDue:
		r.Kind = api.ReportHeartbeat
	default:
		a.writeStatus(statuses, roots, serial)
		return false
	}
	spooled := a.spoolReport(r, hash, factsHash)
	a.writeStatus(statuses, roots, serial)
	if spooled {
		signal(a.kickSend)
	}
	return spooled
}

// storeStatuses is the status of every store, the anchors of those read,
// and whether every worker has read its store.
func (a *Agent) storeStatuses() (statuses []api.StoreStatus, snap []inventory.StoreAnchors, ready bool) {
	a.mu.Lock()
	list := a.workerListLocked()
	a.mu.Unlock()
	statuses = make([]api.StoreStatus, 0, len(list))
	ready = true
	for _, wk := range list {
		res, anchors, done := wk.snapshot()
		ready = ready && done
		statuses = append(statuses, api.StoreStatus{ID: clean(res.ID), Kind: res.Kind, Path: clean(res.Path), Format: clean(res.Format),
			Owner: clean(res.Owner), Status: res.Status, Detail: clean(res.Detail)})
		if anchors != nil {
			snap = append(snap, inventory.StoreAnchors{Store: res.Info, Anchors: anchors})
		}
	}
	return statuses, snap, ready
}

// reportRoots classifies the unknown and blocked roots of snap (as many
// as a report may carry) and marks the stores holding a blocked root
// blocked-present in statuses.
func (a *Agent) reportRoots(statuses []api.StoreStatus, snap []inventory.StoreAnchors, pol *policy.Document) []api.Root {
	roots := classifyRoots(snap, pol, blocklistFor(pol))
	if len(roots) > api.MaxUnknownRoots {
		// Blocked roots first (classifyRoots keeps them ahead), then as
		// many unknown ones as a report may carry.
		a.log.Warn("more unknown roots than a report may carry: the rest are left out", "roots", len(roots), "max", api.MaxUnknownRoots)
		roots = roots[:api.MaxUnknownRoots]
	}
	blockedIn := map[string]string{}
	for _, r := range roots {
		if r.Class == inventory.Blocked {
			for _, id := range r.StoreIDs {
				blockedIn[id] = r.Subject
			}
		}
	}
	for i := range statuses {
		if subj, ok := blockedIn[statuses[i].ID]; ok && statuses[i].Status != stores.StatusError {
			statuses[i].Status = stores.StatusBlockedPresent
			statuses[i].Detail = fmt.Sprintf("blocklisted root %q present; %s", subj, statuses[i].Detail)
		}
	}
	return roots
}

// newRootEvents is an unknown-root or blocked-root event for each root
// whose class changed since the last report (none on the first). With
// ready (every store read) roots become the last report's.
func (a *Agent) newRootEvents(roots []api.Root, ready bool) []api.Event {
	cur := map[string]inventory.Class{}
	var appeared []api.Event
	a.mu.Lock()
	defer a.mu.Unlock()
	first := a.prevRoots == nil
	for _, r := range roots {
		cur[r.SHA256] = r.Class
		if first || a.prevRoots[r.SHA256] == r.Class {
			continue
		}
		typ := api.EventUnknownRoot
		if r.Class == inventory.Blocked {
			typ = api.EventBlockedRoot
		}
		sid := ""
		if len(r.StoreIDs) > 0 {
			sid = r.StoreIDs[0]
		}
		appeared = append(appeared, a.event(typ, sid, r.SHA256, fmt.Sprintf("%s: %s", r.Subject, r.Reason)))
	}
	if ready {
		a.prevRoots = cur
	}
	return appeared
}

// activeCAs is what the policy in force has the stores hold now, and its
// serial (none and 0 without a policy).
func activeCAs(pol *policy.Document) (cas []api.CA, serial int64) {
	if pol == nil {
		return nil, 0
	}
	for _, c := range pol.ActiveCAs(time.Now()) {
		cas = append(cas, api.CA{SHA256: stores.SHA256(c), Subject: c.Subject.String(), NotAfter: c.NotAfter.UTC()})
	}
	return cas, pol.Serial
}

// reportFacts is the host facts a report carries (gathered again when a
// heartbeat is due) and their hash.
func (a *Agent) reportFacts(heartbeatDue bool) (api.HostFacts, string) {
	a.mu.Lock()
	facts := a.facts
	a.mu.Unlock()
	if heartbeatDue {
		facts = Facts(a.root, a.state.dir, a.opt.Version)
		a.mu.Lock()
		a.facts = facts
		a.mu.Unlock()
	}
	fb, _ := json.Marshal(facts)
	fsum := sha256.Sum256(fb)
	return facts, hex.EncodeToString(fsum[:])
}

// spoolReport adds r to the spool and marks its events spooled in the
// journal. A report carries at most maxReportEvents events: a burst beyond
// that goes first, in reports of its own with the same state. A report
// the spool cannot take is made again after spoolRetry, its events
// staying in the journal.
func (a *Agent) spoolReport(r api.ReportRequest, hash, factsHash string) bool {
	for len(r.Events) > maxReportEvents {
		head := r
		head.ReportID = newID()
		head.Events = r.Events[:maxReportEvents]
		if err := a.spool.Add(head); err != nil {
			break
		}
		a.record(journalBatch{Spooled: eventIDs(head.Events)})
		r.Events = r.Events[maxReportEvents:]
	}
	if err := a.spool.Add(r); err != nil {
		a.log.Error("cannot spool the report; its events stay in the journal and it is tried again", "err", err, "events", len(r.Events),
			"retry_in", spoolRetry.String())
		time.AfterFunc(spoolRetry, a.changed)
		return false
	}
	a.record(journalBatch{Spooled: eventIDs(r.Events)})
	if r.Kind == api.ReportFull {
		if err := a.state.setHashes(hash, factsHash); err != nil {
			a.log.Warn("cannot save state", "err", err)
		}
	}
	a.mu.Lock()
	a.lastSent = time.Now()
	a.mu.Unlock()
	return true
}

// maxReportEvents bounds the events of one report, well under
// api.MaxEvents and api.MaxBodyBytes.
const maxReportEvents = 1000

func stateHash(st []api.StoreStatus, roots []api.Root, cas []api.CA, serial int64) string {
	b, _ := json.Marshal(struct {
		S []api.StoreStatus
		R []api.Root
		C []api.CA
		P int64
	}{st, roots, cas, serial})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (a *Agent) writeStatus(statuses []api.StoreStatus, roots []api.Root, serial int64) {
	st := Status{PID: os.Getpid(), Updated: time.Now().UTC(), PolicySerial: serial, Enrolled: a.state.nodeKey() != "",
		SpoolPending: a.spool.Len(), SpoolDropped: a.spool.Dropped()}
	a.mu.Lock()
	st.LastDelivery, st.LastError, st.PolicyProblem = a.lastDeliver, a.lastErr, a.polProblem
	st.PolicyState = a.polState
	st.EnrollConflict = a.enrollConflict
	a.mu.Unlock()
	a.deliveryStatus(&st)
	if d := a.policyDoc(); d != nil {
		st.PolicyNotAfter = d.NotAfter
	}
	for _, s := range statuses {
		st.Stores = append(st.Stores, StoreReport{ID: s.ID, Status: s.Status, Detail: s.Detail})
	}
	for _, r := range roots {
		if r.Class == inventory.Blocked {
			st.BlockedRoots++
		} else {
			st.UnknownRoots++
		}
	}
	if err := a.state.writeStatus(st); err != nil {
		a.log.Warn("cannot write status", "err", err)
	}
}

// ensureEnrolled returns the node key, enrolling first when there is
// none. An agent enrolled before host keys binds its host key once (with
// its node key as the proof of who it is); if that fails it keeps its
// node key and tries again at its next start.
func (a *Agent) ensureEnrolled(ctx context.Context) (string, error) {
	key := a.state.nodeKey()
	a.mu.Lock()
	checked := a.keyChecked
	a.keyChecked = true
	a.mu.Unlock()
	if key != "" && !checked {
		if hk, ok, err := a.state.hostKey(); err != nil || !ok || !a.state.keyBound(hk) {
			nk, err := a.enroll(ctx, key)
			if err != nil {
				a.log.Warn("cannot bind the host key to this host at the collector; reporting with the node key held", "err", err)
				return key, nil
			}
			key = nk
			a.afterEnroll()
		}
	}
	if key != "" {
		return key, nil
	}
	key, err := a.enroll(ctx, "")
	if err != nil {
		return "", err
	}
	a.afterEnroll()
	return key, nil
}

// afterEnroll makes the first report after enrolling carry the host
// facts, and fetches the policy.
func (a *Agent) afterEnroll() {
	_ = a.state.setHashes("", "")
	signal(a.policyHint)
	signal(a.enrolledC)
	a.changed()
}
