package api_test

import (
	"encoding/json"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/inventory"
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

func TestStoreVocabularyOnTheWire(t *testing.T) {
	wire(t, api.StoreStatus{ID: "nss:/etc/pki/nssdb", Kind: stores.KindNSS, Path: "/etc/pki/nssdb", Status: stores.StatusMissing},
		`{"id":"nss:/etc/pki/nssdb","kind":"nss","path":"/etc/pki/nssdb","status":"missing"}`)
	for st, want := range map[stores.Status]string{
		stores.StatusCompliant: "compliant", stores.StatusMissing: "missing", stores.StatusUntrusted: "untrusted",
		stores.StatusBlockedPresent: "blocked-present", stores.StatusNeedsMDM: "needs-mdm", stores.StatusError: "error",
		stores.StatusOvertrusted: "overtrusted", stores.StatusDistrustedPresent: "distrusted-present",
	} {
		wire(t, api.StoreStatus{ID: "s", Kind: "k", Status: st}, `{"id":"s","kind":"k","path":"","status":"`+want+`"}`)
	}
	if len(stores.Statuses()) != 8 {
		t.Errorf("stores.Statuses() = %v: a new status needs its golden string here", stores.Statuses())
	}
	for k, want := range map[stores.Kind]string{
		stores.KindSystem: "system", stores.KindNSS: "nss", stores.KindJava: "java", stores.KindWindows: "windows",
		stores.KindMacOS: "macos", stores.KindFirefox: "firefox", stores.KindPython: "python", stores.KindNode: "node",
		stores.KindGit: "git", stores.KindBundle: "bundle", stores.KindContainer: "container", stores.KindCloud: "cloud",
		stores.KindWSL: "wsl",
	} {
		wire(t, api.StoreStatus{ID: "s", Kind: k, Status: stores.StatusCompliant}, `{"id":"s","kind":"`+want+`","path":"","status":"compliant"}`)
	}
	if len(stores.KnownKinds()) != 13 {
		t.Errorf("stores.KnownKinds() = %v: a new kind needs its golden string here", stores.KnownKinds())
	}
}

func TestRootClassesOnTheWire(t *testing.T) {
	for c, want := range map[inventory.Class]string{inventory.Unknown: "unknown", inventory.Blocked: "blocked"} {
		wire(t, api.Root{SHA256: "ab", Subject: "CN=x", Class: c, StoreIDs: []string{"s"}},
			`{"sha256":"ab","subject":"CN=x","not_after":"0001-01-01T00:00:00Z","class":"`+want+`","store_ids":["s"]}`)
		wire(t, api.RootSeen{SHA256: "ab", Subject: "CN=x", Class: c, Hosts: 2},
			`{"sha256":"ab","subject":"CN=x","class":"`+want+`","not_after":"0001-01-01T00:00:00Z","hosts":2}`)
	}
	if inventory.Managed != "managed" || inventory.Vendor != "vendor" {
		t.Errorf("classes managed %q, vendor %q", inventory.Managed, inventory.Vendor)
	}
}

func TestHostAndDeviceStatusesOnTheWire(t *testing.T) {
	want := []string{"pending", "compliant", "noncompliant", "error"}
	for i, st := range api.HostStatuses() {
		b, _ := json.Marshal(api.HostSummary{Status: st})
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil || m["status"] != want[i] {
			t.Errorf("host status %d encodes as %v (%v), want %q", i, m["status"], err, want[i])
		}
	}
	if len(api.HostStatuses()) != len(want) {
		t.Errorf("api.HostStatuses() = %v, want %v", api.HostStatuses(), want)
	}
	wantDev := []string{"unmanaged", "exempt", "managed"}
	for i, st := range api.DeviceStatuses() {
		wire(t, struct {
			Status api.DeviceStatus `json:"status"`
		}{st}, `{"status":"`+wantDev[i]+`"}`)
	}
	if len(api.DeviceStatuses()) != len(wantDev) {
		t.Errorf("api.DeviceStatuses() = %v, want %v", api.DeviceStatuses(), wantDev)
	}
}
