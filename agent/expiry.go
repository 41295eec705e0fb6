package agent

import (
	"fmt"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/policy"
)

// States of the policy in force (Status.PolicyState).
const (
	PolicyValid    = "valid"
	PolicyExpiring = "expiring" // within policy.ExpiryWarning of not_after
	// PolicyExpired: past not_after (or signed without one, before
	// policies expired). The agent keeps enforcing it — a CA is never
	// removed because its policy expired — and reports policy-expired
	// until a newer policy is accepted.
	PolicyExpired = "expired"
)

// policyState returns the state of policy d (signed at signedAt) at now,
// and when it next changes (zero: never).
func policyState(d *policy.Document, signedAt, now time.Time) (string, time.Time) {
	switch {
	case d == nil:
		return "", time.Time{}
	case d.NotAfter == nil || now.After(*d.NotAfter):
		return PolicyExpired, time.Time{}
	}
	if warn := d.WarnAt(signedAt); now.Before(warn) {
		return PolicyValid, warn
	}
	return PolicyExpiring, d.NotAfter.Add(time.Millisecond)
}

// checkExpiry reports a change of the policy's state at now (an event,
// and the status) and returns when to check again (zero: no need).
func (a *Agent) checkExpiry(now time.Time) time.Time {
	d := a.policyDoc()
	a.mu.Lock()
	state, next := policyState(d, a.polSignedAt, now)
	prev := a.polState
	a.polState = state
	a.mu.Unlock()
	if state == prev || d == nil {
		return next
	}
	switch state {
	case PolicyExpiring:
		msg := fmt.Sprintf("policy serial %d expires at %s: publish a newly signed policy before then", d.Serial, d.NotAfter.UTC().Format(time.RFC3339))
		a.log.Warn(msg)
		a.emit(a.event(api.EventPolicyExpiring, "", "", msg))
	case PolicyExpired:
		msg := fmt.Sprintf("policy serial %d expired", d.Serial)
		if d.NotAfter == nil {
			msg = fmt.Sprintf("policy serial %d has no not_after (signed before policies expired)", d.Serial)
		} else {
			msg += " at " + d.NotAfter.UTC().Format(time.RFC3339)
		}
		msg += "; it stays in force (no CA is removed because a policy expired) until a newer signed policy is accepted"
		a.log.Error(msg)
		a.setPolicyProblem(string(api.EventPolicyExpired) + ": " + msg)
		a.emit(a.event(api.EventPolicyExpired, "", "", msg))
	}
	return next
}
