package agent

import (
	"context"
	"crypto/x509"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/stores"
)

// distrustView is what one store shows the distrust planner.
type distrustView struct {
	anchors []stores.Anchor // what List returned
	// distrusted is what a stores.Distruster actively distrusts.
	distrusted  []stores.Anchor
	canDistrust bool // the store implements stores.Distruster
	writable    bool
	// ours: fingerprints this agent distrusted or removed in the store
	// before (state), so a copy coming back is a heal, and only records
	// the agent wrote are ever undistrusted.
	ours map[string]bool
}

// distrustPlan is what one store must do about the policy's distrust
// targets.
type distrustPlan struct {
	distrust   []*x509.Certificate // Distruster: certificates to distrust now
	undistrust []string            // Distruster: our records the policy dropped
	remove     []string            // other stores: copies to take out
	// left describes each copy that stays trusted and why (read-only
	// store, another manager's entry, no certificate to distrust).
	left []string
	// why maps each fingerprint acted on to its target.
	why map[string]policy.DistrustTarget
}

// planDistrust decides, for one store, how the distrust targets are
// enforced. A store that can distrust distrusts every target it holds
// that it does not yet refuse (or that is trusted again), and every
// target the policy gives the certificate of (refused in advance); a
// store that cannot has every copy removed, except one another manager
// owns (reported). A read-only store changes nothing: its trusted copies
// are reported. It never undistrusts a record it did not write.
func planDistrust(targets []policy.DistrustTarget, v distrustView) distrustPlan {
	p := distrustPlan{why: map[string]policy.DistrustTarget{}}
	recorded := map[string]bool{}
	for _, d := range v.distrusted {
		recorded[d.SHA256] = true
	}
	queued := map[string]bool{}
	for _, a := range v.anchors {
		t, ok := matchTarget(targets, a.SHA256, a.Cert)
		if !ok || queued[a.SHA256] {
			continue
		}
		queued[a.SHA256] = true
		name := anchorName(a)
		switch {
		case !v.writable:
			if a.TrustedServerAuth {
				p.left = append(p.left, fmt.Sprintf("%s stays trusted: the store is read-only (%s)", name, t.Source))
			}
		case v.canDistrust:
			if recorded[a.SHA256] && !a.TrustedServerAuth {
				continue
			}
			c := a.Cert
			if c == nil {
				c = t.Cert
			}
			if c == nil {
				p.left = append(p.left, fmt.Sprintf("%s: the store did not return the certificate to distrust (%s)", name, t.Source))
				continue
			}
			p.distrust = append(p.distrust, c)
			p.why[a.SHA256] = t
		case a.ManagedBy != "":
			if a.TrustedServerAuth {
				p.left = append(p.left, fmt.Sprintf("%s stays trusted: %s owns the entry (%s)", name, a.ManagedBy, t.Source))
			}
		default:
			p.remove = append(p.remove, a.SHA256)
			p.why[a.SHA256] = t
		}
	}
	if v.canDistrust && v.writable {
		p.planAhead(targets, recorded, queued)
		p.undistrust = staleRecords(targets, v.distrusted, v.ours)
	}
	return p
}

// planAhead queues, for a store that can distrust, every target whose
// certificate the policy gives and the store does not refuse yet.
func (p *distrustPlan) planAhead(targets []policy.DistrustTarget, recorded, queued map[string]bool) {
	for _, t := range targets {
		if t.Cert == nil {
			continue
		}
		fp := stores.SHA256(t.Cert)
		if recorded[fp] || queued[fp] {
			continue
		}
		queued[fp] = true
		p.distrust = append(p.distrust, t.Cert)
		p.why[fp] = t
	}
}

// staleRecords returns the distrust records the agent wrote (ours) that
// no target asks for any more.
func staleRecords(targets []policy.DistrustTarget, distrusted []stores.Anchor, ours map[string]bool) []string {
	var out []string
	for _, d := range distrusted {
		if !ours[d.SHA256] {
			continue
		}
		if _, still := matchTarget(targets, d.SHA256, d.Cert); !still {
			out = append(out, d.SHA256)
		}
	}
	sort.Strings(out)
	return out
}

// matchTarget returns the first target naming the certificate (by
// fingerprint, or by key when c is known).
func matchTarget(targets []policy.DistrustTarget, fp string, c *x509.Certificate) (policy.DistrustTarget, bool) {
	spki := ""
	if c != nil {
		spki = stores.SPKIHash(c)
	}
	for _, t := range targets {
		if t.Matches(fp, spki) {
			return t, true
		}
	}
	return policy.DistrustTarget{}, false
}

func anchorName(a stores.Anchor) string {
	if a.Cert != nil {
		return fmt.Sprintf("%q (sha256 %s…)", a.Cert.Subject.CommonName, a.SHA256[:changeLabelSize])
	}
	return "sha256 " + a.SHA256
}

// stillTrusted describes each anchor that a target names and the store
// still trusts.
func stillTrusted(targets []policy.DistrustTarget, anchors []stores.Anchor, info stores.Info) []string {
	var out []string
	for _, a := range anchors {
		t, ok := matchTarget(targets, a.SHA256, a.Cert)
		if !ok || !a.TrustedServerAuth {
			continue
		}
		why := ""
		switch {
		case !info.Writable:
			why = ", the store is read-only"
		case a.ManagedBy != "":
			why = ", " + a.ManagedBy + " owns the entry"
		}
		out = append(out, fmt.Sprintf("%s (%s: %s%s)", anchorName(a), t.Source, t.Reason, why))
	}
	return out
}

// markDistrustedPresent makes res StatusDistrustedPresent when the store
// still trusts a CA the policy distrusts (unless it could not be read).
func markDistrustedPresent(res *stores.Result, targets []policy.DistrustTarget, anchors []stores.Anchor, info stores.Info) {
	left := stillTrusted(targets, anchors, info)
	if len(left) == 0 || res.Status == stores.StatusError {
		return
	}
	res.Status = stores.StatusDistrustedPresent
	res.Detail = "distrusted by the policy but still trusted: " + strings.Join(left, "; ") + "; " + res.Detail
}

// enforceDistrust carries out the policy's distrust section on the
// worker's store: it plans with planDistrust, distrusts, undistrusts or
// removes, records what the agent did and re-reads the store (updating
// anchors and res). It returns the events and whether to retry: a step
// failed, or a writable store still trusts a distrusted CA.
func (w *worker) enforceDistrust(ctx context.Context, pol *policy.Document, now time.Time, want []*x509.Certificate,
	anchors *[]stores.Anchor, res *stores.Result) ([]api.Event, bool) {
	targets := pol.DistrustTargets(now)
	ours := w.a.state.distrustedBy(w.info.ID)
	if len(targets) == 0 && len(ours) == 0 {
		return nil, false
	}
	dis, canDistrust := stores.AsDistruster(w.s)
	if len(targets) == 0 && !canDistrust {
		// Nothing distrusted any more: forget the removals.
		if err := w.a.state.setDistrustedBy(w.info.ID, nil); err != nil {
			w.log.Warn("cannot save state", "err", err)
		}
		return nil, false
	}
	v := distrustView{anchors: *anchors, canDistrust: canDistrust, writable: w.info.Writable, ours: ours}
	if canDistrust {
		list, err := dis.Distrusted(ctx)
		if err != nil {
			w.log.Warn("cannot list what the store distrusts", "err", err)
			return []api.Event{w.a.event(api.EventHealFailed, w.info.ID, "", "distrust: "+err.Error())}, true
		}
		v.distrusted = list
	}
	p := planDistrust(targets, v)
	events, failed := w.applyDistrust(ctx, dis, p, ours)
	if len(p.distrust)+len(p.undistrust)+len(p.remove) > 0 {
		if a2, err := w.s.List(ctx); err == nil {
			*anchors = a2
			*res = stores.Check(w.info, a2, want)
		}
	}
	if err := w.a.state.setDistrustedBy(w.info.ID, ours); err != nil {
		w.log.Warn("cannot save state", "err", err)
	}
	for _, l := range p.left {
		w.log.Warn("distrusted CA stays trusted", "why", l)
	}
	return events, failed || (w.info.Writable && len(stillTrusted(targets, *anchors, w.info)) > 0)
}

// applyDistrust carries out plan p, updating ours (the fingerprints the
// agent distrusted or removed in the store) and returning the events and
// whether something failed.
func (w *worker) applyDistrust(ctx context.Context, dis stores.Distruster, p distrustPlan, ours map[string]bool) ([]api.Event, bool) {
	var events []api.Event
	failed := false
	opt := stores.Options{Watched: true}
	note := func(fp string) string {
		t := p.why[fp]
		return fmt.Sprintf("%s: %s", t.Source, t.Reason)
	}
	report := func(changes []stores.Change, err error, typ api.EventType, what string) {
		if err != nil {
			failed = true
			w.log.Error(what+" failed", "err", err)
			events = append(events, w.a.event(api.EventHealFailed, w.info.ID, "", what+": "+err.Error()))
			return
		}
		for _, ch := range changes {
			if ch.Action == stores.ActionUnchanged {
				continue
			}
			detail := what + " (" + note(ch.SHA256) + ")"
			if typ == api.EventUndistrusted {
				detail = "the policy no longer distrusts it: our distrust record was taken out"
				delete(ours, ch.SHA256)
			} else {
				if ours[ch.SHA256] {
					detail = "added back or trusted again: " + detail
				}
				ours[ch.SHA256] = true
			}
			events = append(events, w.a.event(typ, w.info.ID, ch.SHA256, detail))
			w.log.Info(string(typ), "sha256", ch.SHA256[:changeLabelSize], "action", ch.Action)
		}
	}
	if len(p.distrust) > 0 {
		ch, err := dis.Distrust(ctx, p.distrust, opt)
		report(ch, err, api.EventDistrusted, "distrusted")
	}
	if len(p.undistrust) > 0 {
		ch, err := dis.Undistrust(ctx, p.undistrust, opt)
		report(ch, err, api.EventUndistrusted, "undistrust")
	}
	if len(p.remove) > 0 {
		ch, err := w.s.Remove(ctx, p.remove, opt)
		report(ch, err, api.EventRemovedByPol, "distrusted by the policy; this store cannot express distrust, so the CA was removed")
	}
	return events, failed
}
