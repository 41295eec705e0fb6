package api_test

import (
	"encoding/json"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
)

// wire checks that v encodes to want: the typed vocabulary must not move
// the JSON agents and collectors of other versions exchange.
func wire(t *testing.T, v any, want string) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Errorf("%T encodes as\n%s\nwant\n%s", v, b, want)
	}
}

func TestEventTypesOnTheWire(t *testing.T) {
	for typ, want := range map[api.EventType]string{
		api.EventRemoved:         "removed",
		api.EventHealed:          "healed",
		api.EventHealFailed:      "heal-failed",
		api.EventUnknownRoot:     "unknown-root-appeared",
		api.EventBlockedRoot:     "blocked-root-appeared",
		api.EventPolicyApplied:   "policy-applied",
		api.EventPolicyRejected:  "policy-rejected",
		api.EventInstalled:       "installed",
		api.EventRemovedByPol:    "removed-by-policy",
		api.EventPolicyExpiring:  "policy-expiring",
		api.EventPolicyExpired:   "policy-expired",
		api.EventDistrusted:      "distrusted",
		api.EventUndistrusted:    "undistrusted",
		api.EventEnrollConflict:  "enroll-conflict",
		api.EventHostMerged:      "host-merged",
		api.EventNodeKeyRevoked:  "node-key-revoked",
		api.EventHostRetired:     "host-retired",
		api.EventHostReactivated: "host-reactivated",
		api.EventReportDropped:   "report-dropped",
		api.EventStateReset:      "state-reset",
	} {
		wire(t, api.Event{ID: "e", Type: typ}, `{"id":"e","time":"0001-01-01T00:00:00Z","type":"`+want+`"}`)
	}
	var e api.Event
	if err := json.Unmarshal([]byte(`{"id":"e","type":"a-type-of-a-newer-agent"}`), &e); err != nil || e.Type != "a-type-of-a-newer-agent" {
		t.Errorf("an unknown type decodes as %q, %v: the collector stores any well-formed type", e.Type, err)
	}
}
