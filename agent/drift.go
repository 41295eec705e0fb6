package agent

import (
	"fmt"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/stores"
)

// A drift is a change of a store under way: a heal of a CA that went
// missing (or lost its trust), a first install, or a removal the policy
// asks for. It is journaled before the store is written, together with
// the event that opened it (`removed`), and carries the id of the event
// that will close it (`healed`, `installed`, `removed-by-policy`), fixed
// up front. So a SIGKILL at any point of a heal loses nothing and sends
// nothing twice: after a restart the agent finds the heal still open and
// either completes it or, finding the store already right, sends the
// closing event with its id. A heal that keeps failing counts its
// attempts: `removed` is sent once, `heal-failed` at the 1st, 2nd, 4th,
// 8th… failure with the count, and `healed` once when it works.
type drift struct {
	Store    string    `json:"store"`
	SHA256   string    `json:"sha256"`
	Action   string    `json:"action"`  // driftHeal, driftInstall or driftRemove
	DoneID   string    `json:"done_id"` // id of the closing event
	Since    time.Time `json:"since"`
	Failures int       `json:"failures,omitempty"`
	LastErr  string    `json:"last_error,omitempty"`
}

// Drift actions.
const (
	driftHeal    = "heal"    // our CA went missing or untrusted: put it back
	driftInstall = "install" // our CA was never verified there: first install
	driftRemove  = "remove"  // the policy removes a certificate the store holds
)

func (d drift) key() string { return d.Store + " " + d.SHA256 }

// reportFailure reports whether the n-th failure in a row is sent as a
// heal-failed event: the 1st, 2nd, 4th, 8th…, so an outage of hours
// sends a handful, each with its count.
func reportFailure(n int) bool { return n > 0 && n&(n-1) == 0 }

// openHeals journals, before the store is written, the heals of the
// certificates need (missing, untrusted or overtrusted in the store): a
// `removed` event for each CA the agent had verified present (known) and
// that is gone or untrusted (an overtrusted one is still there) — once per removal,
// however often the heal is retried — and a drift for each, open until
// the CA is back. It returns the open drifts of the store.
func (w *worker) openHeals(need []string, known map[string]bool, res stores.Result) map[string]drift {
	open := w.a.journal.storeDrifts(w.info.ID)
	var b journalBatch
	now := time.Now().UTC()
	for _, fp := range need {
		if _, ok := open[fp]; ok {
			continue
		}
		d := drift{Store: w.info.ID, SHA256: fp, Action: driftInstall, DoneID: newID(), Since: now}
		if known[fp] {
			d.Action = driftHeal
		}
		if known[fp] && !contains(res.Overtrusted, fp) {
			detail := "our CA is no longer in the store"
			if contains(res.Untrusted, fp) {
				detail = "our CA is no longer trusted for TLS server authentication"
			}
			b.Events = append(b.Events, w.a.event(api.EventRemoved, w.info.ID, fp, detail))
		} else if !w.info.Writable {
			continue // never installed, and never will be here: nothing under way
		}
		open[fp] = d
		b.Drifts = append(b.Drifts, d)
	}
	w.a.emitBatch(b)
	return open
}

// openRemovals journals the removals the policy asks for before the store
// is written.
func (w *worker) openRemovals(fps []string) {
	open := w.a.journal.storeDrifts(w.info.ID)
	var b journalBatch
	for _, fp := range fps {
		if d, ok := open[fp]; ok && d.Action == driftRemove {
			continue
		}
		b.Drifts = append(b.Drifts, drift{Store: w.info.ID, SHA256: fp, Action: driftRemove, DoneID: newID(), Since: time.Now().UTC()})
	}
	w.a.emitBatch(b)
}

// failed counts a failed attempt on the drifts of fps and sends
// heal-failed when the count is due (reportFailure).
func (w *worker) failed(fps []string, what string, err error) {
	open := w.a.journal.storeDrifts(w.info.ID)
	var b journalBatch
	for _, fp := range fps {
		d, ok := open[fp]
		if !ok {
			continue
		}
		d.Failures++
		d.LastErr = clean(err.Error())
		if reportFailure(d.Failures) {
			b.Drifts = append(b.Drifts, d)
			detail := fmt.Sprintf("%s failed (attempt %d since %s): %s", what, d.Failures, d.Since.Format(time.RFC3339), err)
			b.Events = append(b.Events, w.a.event(api.EventHealFailed, w.info.ID, fp, detail))
		} else {
			w.a.journal.touch(d) // counted; journaled with the next record
		}
	}
	w.a.emitBatch(b)
}

// closeDrifts closes the drifts of the store that are done, given what the
// store holds now (res, anchors) and what the policy wants and removes:
// a healed or installed CA present and trusted, a removed certificate
// gone. done says how the agent itself did it (sha256 -> action), for the
// event's detail. Drifts the policy no longer asks for are closed without
// an event.
func (w *worker) closeDrifts(res stores.Result, anchors []stores.Anchor, wanted, removes map[string]bool, done map[string]string) {
	open := w.a.journal.storeDrifts(w.info.ID)
	if len(open) == 0 {
		return
	}
	present := map[string]bool{}
	for _, an := range anchors {
		present[an.SHA256] = true
	}
	var b journalBatch
	for fp, d := range open {
		var ev *api.Event
		switch d.Action {
		case driftHeal, driftInstall:
			if !wanted[fp] {
				w.log.Info("the policy no longer installs this CA: its heal is closed", "sha256", short(fp))
				break
			}
			if contains(res.Missing, fp) || contains(res.Untrusted, fp) || contains(res.Overtrusted, fp) {
				continue
			}
			e := w.closing(d, done[fp])
			ev = &e
		case driftRemove:
			if !removes[fp] {
				break
			}
			if present[fp] {
				continue
			}
			e := w.a.event(api.EventRemovedByPol, w.info.ID, fp, "removed as the policy asks")
			e.ID = d.DoneID
			ev = &e
		}
		if ev != nil {
			b.Events = append(b.Events, *ev)
			w.log.Info(string(ev.Type), "sha256", short(fp), "detail", ev.Detail)
		}
		b.Closed = append(b.Closed, d.key())
	}
	w.a.emitBatch(b)
}

// closing is the event that closes a heal or install, with its fixed id.
func (w *worker) closing(d drift, action string) api.Event {
	typ, detail := api.EventHealed, "put back ("+action+")"
	if d.Action == driftInstall {
		typ, detail = api.EventInstalled, "installed "+action
	}
	if action == "" {
		detail = "back in place (put back before the agent restarted, or by another program)"
		if d.Action == driftInstall {
			detail = "in place (installed before the agent restarted, or by another program)"
		}
	}
	if d.Failures > 0 {
		detail += fmt.Sprintf(" after %d failed attempts", d.Failures)
	}
	e := w.a.event(typ, w.info.ID, d.SHA256, detail)
	e.ID = d.DoneID
	return e
}

func short(fp string) string { return fp[:min(len(fp), changeLabelSize)] }
