package agent

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/api/client"
)

// Delivery: what happens to an event from the moment it is seen until the
// collector has it.
//
//  1. It is journaled (journal.go), fsynced, before the call that saw it
//     goes on: the `removed` of a heal before the store is written.
//  2. The next report takes every journaled event into the spool
//     (spool.go), and the journal forgets them once the spool has them.
//  3. The spool is sent oldest first. A report leaves it when the
//     collector acknowledged it, or when the collector itself refused it
//     as invalid (RefusedError: its JSON error answer, api.Refused). Any
//     other failure — the network, a 5xx, or a 403/404 page from a load
//     balancer, reverse proxy or firewall in front of the collector —
//     keeps it spooled and is retried with backoff (1 s doubling to
//     5 min, jittered, at least what Retry-After asks).
//
// Every report or event dropped on the way (refused, spool or journal
// bound, unreadable spool file) is logged, counted in `agent status` and
// reported to the collector as a report-dropped event.

// Backoff of delivery retries.
const (
	sendBackoffMin = time.Second
	sendBackoffMax = 5 * time.Minute
	// dropNoticeDelay is how long after a drop the report carrying its
	// report-dropped event is made when nothing else makes one sooner: a
	// collector refusing every report gets at most one a minute.
	dropNoticeDelay = time.Minute
	// spoolRetry is how long after a report could not be spooled (state
	// directory full) it is made again.
	spoolRetry = 5 * time.Second
)

// deliveryStats counts what was dropped since the agent started.
type deliveryStats struct {
	mu             sync.Mutex
	reportsDropped int
	eventsDropped  int
	lastDrop       string
	lostNoticed    int   // journal losses already reported
	journalErr     error // last journal error logged
}

// record journals b (see journal.record); a failure is logged when it
// starts and when it ends, the events staying in memory meanwhile.
func (a *Agent) record(b journalBatch) {
	err := a.journal.record(b)
	a.dl.mu.Lock()
	was := a.dl.journalErr
	a.dl.journalErr = err
	a.dl.mu.Unlock()
	switch {
	case err != nil && (was == nil || was.Error() != err.Error()):
		a.log.Error("cannot write the event journal: events are held in memory until it works again, and lost if the agent stops first",
			"err", err, "unsaved_events", a.journal.stats().Unsaved)
	case err == nil && was != nil:
		a.log.Info("the event journal is written again; nothing held in memory is lost")
	}
	a.noticeJournalLoss()
}

// noticeJournalLoss reports events the journal dropped to its bound.
func (a *Agent) noticeJournalLoss() {
	lost := a.journal.stats().Lost
	a.dl.mu.Lock()
	n := lost - a.dl.lostNoticed
	a.dl.lostNoticed = lost
	a.dl.mu.Unlock()
	if n > 0 {
		a.dropped(n, fmt.Sprintf("%d events dropped: more than %d waited to be spooled (is the state directory full?)", n, maxPendingEvents))
	}
}

// dropped counts and reports a drop of events (report says which report
// if any): logged, shown by `agent status`, and sent to the collector as
// a report-dropped event with the next report.
func (a *Agent) dropped(events int, why string) {
	a.dl.mu.Lock()
	a.dl.eventsDropped += events
	a.dl.lastDrop = time.Now().UTC().Format(time.RFC3339) + " " + why
	a.dl.mu.Unlock()
	a.log.Error("events dropped", "events", events, "why", why)
	e := a.event(api.EventReportDropped, "", "", why)
	_ = a.journal.record(journalBatch{Events: []api.Event{e}})
	a.tell(e)
	time.AfterFunc(dropNoticeDelay, a.changed)
}

// dropReport drops a spooled report the collector refused.
func (a *Agent) dropReport(it Item, refused *client.RefusedError) {
	_ = a.spool.Done(it)
	a.dl.mu.Lock()
	a.dl.reportsDropped++
	a.dl.mu.Unlock()
	why := fmt.Sprintf("report %s refused by the collector (%d %s: %s): dropped with its %d events%s",
		it.Report.ReportID, refused.Status, refused.Code, refused.Detail, len(it.Report.Events), eventTypes(it.Report.Events))
	a.dropped(len(it.Report.Events), why)
}

// eventTypes summarizes the types of evs for a log line: " (removed,
// healed×2)".
func eventTypes(evs []api.Event) string {
	if len(evs) == 0 {
		return ""
	}
	n := map[api.EventType]int{}
	var order []api.EventType
	for _, e := range evs {
		if n[e.Type] == 0 {
			order = append(order, e.Type)
		}
		n[e.Type]++
	}
	parts := make([]string, len(order))
	for i, t := range order {
		parts[i] = string(t)
		if n[t] > 1 {
			parts[i] += fmt.Sprintf("×%d", n[t])
		}
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// spoolDropped is the spool's report of a report it dropped.
func (a *Agent) spoolDropped(d SpoolDrop) {
	a.dl.mu.Lock()
	a.dl.reportsDropped++
	a.dl.mu.Unlock()
	a.dropped(d.Events, d.Why)
}

// sendLoop delivers the spool; while it cannot it retries with backoff
// (new reports wait for the next try; SIGHUP tries at once), otherwise it
// sleeps until there is something new.
func (a *Agent) sendLoop(ctx context.Context) {
	backoff := sendBackoffMin
	for {
		err := a.flush(ctx)
		kick := a.kickSend
		var wait <-chan time.Time
		var t *time.Timer
		if err != nil && ctx.Err() == nil {
			a.mu.Lock()
			a.lastErr = err.Error()
			a.mu.Unlock()
			d := jitter(backoff)
			var ae *client.APIError
			if errors.As(err, &ae) && ae.RetryAfter > d {
				d = min(ae.RetryAfter, sendBackoffMax)
			}
			a.log.Warn("cannot deliver to the collector; reports stay spooled", "err", err, "retry_in", d.String(), "pending", a.spool.Len())
			t = time.NewTimer(d)
			wait, kick = t.C, nil
			backoff = min(backoff*2, sendBackoffMax)
		} else {
			backoff = sendBackoffMin
		}
		select {
		case <-ctx.Done():
			if t != nil {
				t.Stop()
			}
			return
		case <-kick:
		case <-a.retryNow:
		case <-wait:
		}
		if t != nil {
			t.Stop()
		}
	}
}

func jitter(d time.Duration) time.Duration {
	b := make([]byte, 1)
	_, _ = rand.Read(b)
	return d + d*time.Duration(b[0])/1024 // up to +25%
}

// flush enrolls when needed and sends every spooled report, oldest first.
func (a *Agent) flush(ctx context.Context) error {
	key, err := a.ensureEnrolled(ctx)
	if err != nil {
		return err
	}
	reenrolled := false
	for {
		it, ok, err := a.spool.Peek()
		if err != nil || !ok {
			return err
		}
		r := it.Report
		r.NodeKey = key
		resp, err := a.client.Report(ctx, r)
		var ae *client.APIError
		var refused *client.RefusedError
		switch {
		case errors.As(err, &ae) && ae.Said(api.ErrNodeInvalid) && !reenrolled:
			a.log.Warn("the collector no longer knows this host's node key: enrolling again with its host key")
			reenrolled = true
			_ = a.state.setNodeKey("")
			if key, err = a.ensureEnrolled(ctx); err != nil {
				return err
			}
			continue
		case errors.As(err, &refused):
			a.dropReport(it, refused)
			continue
		case err != nil:
			return err
		}
		if err := a.spool.Done(it); err != nil {
			return err
		}
		a.delivered(resp)
	}
}

// delivered notes an acknowledged report and acts on the answer.
func (a *Agent) delivered(resp api.ReportResponse) {
	a.mu.Lock()
	a.lastDeliver = time.Now().UTC()
	a.lastErr = ""
	a.mu.Unlock()
	if resp.NeedFull {
		// The collector lacks the state a heartbeat named (restored
		// database, re-enrollment): send everything again.
		a.log.Info("the collector asks for a full report")
		_ = a.state.setHashes("", "")
		a.changed()
	}
	if resp.PolicySerial > a.heldSerial() {
		signal(a.policyHint)
	}
}

// queueOnStop spools what is pending when the agent stops, and says what
// became of every event: queued, kept in the journal for the next start,
// or lost (the journal could not be written either).
func (a *Agent) queueOnStop() {
	a.stopping.Store(true)
	st := a.journal.stats()
	if st.Pending == 0 {
		return
	}
	a.report(true)
	after := a.journal.stats()
	switch {
	case after.Pending == 0:
		a.log.Info("stopping: every pending event is queued for delivery", "events", st.Pending)
	case after.Unsaved == 0:
		a.log.Warn("stopping: events could not be queued; they stay in the journal and are delivered after the next start",
			"events", after.Pending)
	default:
		a.log.Error("stopping: events could be neither queued nor journaled (state directory full or failing): they are lost",
			"events_lost", after.Unsaved, "journal_err", after.Err)
	}
}

// deliveryStatus fills the delivery part of the status file.
func (a *Agent) deliveryStatus(st *Status) {
	js := a.journal.stats()
	st.EventsPending, st.EventsUnsaved = js.Pending, js.Unsaved
	if js.Err != nil {
		st.JournalError = js.Err.Error()
	}
	for _, d := range js.Drifts {
		if d.Failures > 0 {
			st.HealsFailing = append(st.HealsFailing, HealStatus{Store: d.Store, SHA256: d.SHA256, Since: d.Since, Failures: d.Failures, LastError: d.LastErr})
		}
	}
	a.dl.mu.Lock()
	st.ReportsDropped, st.EventsDropped, st.LastDrop = a.dl.reportsDropped, a.dl.eventsDropped, a.dl.lastDrop
	a.dl.mu.Unlock()
}

// openJournal opens the event journal in the state directory, reports
// what was found unreadable at start (state-reset events), and forgets
// journaled events the spool already holds (a stop between the two
// writes).
func (a *Agent) openJournal() {
	j, note, err := openJournal(a.state.dir, a.log)
	if err != nil {
		a.log.Error("cannot open the event journal: events are held in memory until they are spooled", "err", err)
	}
	a.journal = j
	a.spool.OnDrop(a.spoolDropped)
	if pending := j.pendingEvents(); len(pending) > 0 {
		in := a.spool.EventIDs()
		var ids []string
		for _, e := range pending {
			if in[e.ID] {
				ids = append(ids, e.ID)
			}
		}
		a.record(journalBatch{Spooled: ids})
	}
	for _, n := range []string{a.state.resetNote(), note} {
		if n != "" {
			a.log.Error("agent state reset", "why", n)
			a.emit(a.event(api.EventStateReset, "", "", n))
		}
	}
}

// eventIDs returns the ids of evs.
func eventIDs(evs []api.Event) []string {
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	return ids
}
