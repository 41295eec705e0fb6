package api

import (
	"time"

	"github.com/anchorwatch/anchorwatch/stores/inventory"
)

// Paths of the dashboard API (Authorization: Bearer <token>; viewer
// tokens read, admin tokens also write). See docs/collector.md.
const (
	PathSummary  = "/api/v1/summary"        // GET FleetSummary
	PathHosts    = "/api/v1/hosts"          // GET HostList; /api/v1/hosts/{id} GET HostDetail
	PathHostsCSV = "/api/v1/hosts.csv"      // GET, same filters as PathHosts
	PathEvents   = "/api/v1/events"         // GET EventList
	PathCAs      = "/api/v1/cas"            // GET CAExpiryList
	PathRoots    = "/api/v1/roots"          // GET RootList: unknown and blocked roots seen
	PathTrend    = "/api/v1/trend"          // GET TrendList: hourly compliance snapshots
	PathRollout  = "/api/v1/policy/rollout" // GET Rollout: the served serial reaching the fleet
	PathWhoAmI   = "/api/v1/whoami"         // GET WhoAmI
	PathSecrets  = "/api/v1/admin/secrets"
	PathTokens   = "/api/v1/admin/tokens"
)

// HostStatus is a host's compliance, derived by the collector from its
// last full report (a store's own status is a stores.Status).
type HostStatus string

// Host statuses.
const (
	HostStatusPending      HostStatus = "pending"      // enrolled, no full report yet
	HostStatusCompliant    HostStatus = "compliant"    // every store compliant, no blocked root
	HostStatusNoncompliant HostStatus = "noncompliant" // a store missing/untrusted/blocked-present/needs-mdm, or a blocked root
	HostStatusError        HostStatus = "error"        // a store could not be read (or no store at all)
)

// HostStatuses returns every host status, for the collector's filters.
func HostStatuses() []HostStatus {
	return []HostStatus{HostStatusPending, HostStatusCompliant, HostStatusNoncompliant, HostStatusError}
}

// GroupCount is the compliance of one group of hosts (or stores, for
// store kinds): its total, how many are compliant and the count per status.
type GroupCount struct {
	Key          string           `json:"key"`
	Total        int64            `json:"total"`
	Compliant    int64            `json:"compliant"`
	CompliantPct float64          `json:"compliant_pct"`
	ByStatus     map[string]int64 `json:"by_status"`
}

// FleetSummary is the body of GET /api/v1/summary.
type FleetSummary struct {
	GeneratedAt    time.Time        `json:"generated_at"`
	Hosts          int64            `json:"hosts"`
	Compliant      int64            `json:"compliant"`
	CompliantPct   float64          `json:"compliant_pct"`
	ByStatus       map[string]int64 `json:"by_status"`
	ByOS           []GroupCount     `json:"by_os"`
	ByPolicySerial []GroupCount     `json:"by_policy_serial"`
	ByStoreKind    []GroupCount     `json:"by_store_kind"` // counts stores, not hosts
	UnknownRoots   int64            `json:"unknown_roots"` // distinct unknown roots seen on some host
	BlockedRoots   int64            `json:"blocked_roots"` // distinct blocklisted roots seen on some host
	OfflineAfter   string           `json:"offline_after"` // e.g. "24h0m0s"
	Offline        int64            `json:"offline"`       // hosts not seen for OfflineAfter
	PolicySerial   int64            `json:"policy_serial"` // serial of the policy the collector serves
	// Flagged counts hosts made by enrolling a known machine id without
	// its host key (possible clones or impersonations; ?flagged=true).
	Flagged int64 `json:"flagged_hosts"`
	// Stale counts active hosts not seen for StaleAfter (e.g.
	// "168h0m0s"); a stale host is retired after the collector's
	// retire-after limit. Retired counts retired hosts, which are not in
	// any other figure of the summary.
	StaleAfter string `json:"stale_after"`
	Stale      int64  `json:"stale"`
	Retired    int64  `json:"retired"`
}

// HostSummary is one host in a list.
type HostSummary struct {
	ID              int64      `json:"id"`
	Hostname        string     `json:"hostname"`
	MachineID       string     `json:"machine_id"`
	OS              string     `json:"os"`
	OSVersion       string     `json:"os_version"`
	Arch            string     `json:"arch"`
	AgentVersion    string     `json:"agent_version"`
	Status          HostStatus `json:"status"`
	PolicySerial    int64      `json:"policy_serial"`
	StoresTotal     int64      `json:"stores_total"`
	StoresCompliant int64      `json:"stores_compliant"`
	UnknownRoots    int64      `json:"unknown_roots"`
	BlockedRoots    int64      `json:"blocked_roots"`
	EnrolledAt      time.Time  `json:"enrolled_at"`
	LastSeen        time.Time  `json:"last_seen"`
	LastReportAt    time.Time  `json:"last_report_at,omitzero"`
	// KeyBound: the host enrolled with a host key (re-enrollment needs it).
	KeyBound bool `json:"key_bound"`
	// ConflictOf is set on a host made by enrolling a machine id already
	// enrolled, without that host's key: the id of that host, and why.
	ConflictOf int64  `json:"conflict_of,omitempty"`
	Conflict   string `json:"conflict,omitempty"`
	// Stale: an active host not seen for the collector's stale-after
	// time. RetiredAt: when the host was retired (absent while active);
	// a retired host is in no compliance figure until it reports again.
	Stale     bool      `json:"stale,omitempty"`
	RetiredAt time.Time `json:"retired_at,omitzero"`
}

// HostMerged is the answer of POST /api/v1/hosts/{id}/merge (admin): the
// flagged host {id} was merged into MergedInto and removed.
type HostMerged struct {
	MergedInto int64 `json:"merged_into"`
}

// HostList is the body of GET /api/v1/hosts. NextCursor is empty on the
// last page; pass it as ?cursor= for the next one.
type HostList struct {
	Hosts      []HostSummary `json:"hosts"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// HostAddress is an IP or a MAC a host reported (the other is empty).
type HostAddress struct {
	IP        string    `json:"ip,omitempty"`
	MAC       string    `json:"mac,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// HostDetail is the body of GET /api/v1/hosts/{id}: the host, its current
// stores, roots and CAs, addresses and its latest events (newest first).
type HostDetail struct {
	HostSummary
	Stores []StoreStatus `json:"stores"`
	// UnknownRoots lists the host's unknown and blocked roots; its JSON
	// name is "roots" so that HostSummary's count "unknown_roots" stays in
	// the response.
	UnknownRoots []Root        `json:"roots"`
	CAs          []CA          `json:"cas"`
	Addresses    []HostAddress `json:"addresses"`
	Events       []HostEvent   `json:"events"`
}

// HostEvent is an event with the host it came from. Seq orders events in
// the collector.
type HostEvent struct {
	Event
	Seq        int64     `json:"seq"`
	HostID     int64     `json:"host_id"`
	Hostname   string    `json:"hostname"`
	ReceivedAt time.Time `json:"received_at"`
}

// EventList is the body of GET /api/v1/events: newest first, or oldest
// first with order=asc.
type EventList struct {
	Events     []HostEvent `json:"events"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

// CAExpiry is one policy CA across the fleet.
type CAExpiry struct {
	SHA256   string    `json:"sha256"`
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
	Hosts    int64     `json:"hosts"`
}

// CAExpiryList is the body of GET /api/v1/cas, soonest expiry first.
type CAExpiryList struct {
	CAs []CAExpiry `json:"cas"`
}

// RootSeen is an unknown or blocked root and how many hosts hold it.
type RootSeen struct {
	SHA256   string          `json:"sha256"`
	Subject  string          `json:"subject"`
	Issuer   string          `json:"issuer,omitempty"`
	Class    inventory.Class `json:"class"`
	NotAfter time.Time       `json:"not_after"`
	Hosts    int64           `json:"hosts"`
}

// RootList is the body of GET /api/v1/roots, most widespread first.
type RootList struct {
	Roots []RootSeen `json:"roots"`
}

// TrendPoint is the fleet's compliance at Time: a full hour (the
// snapshot the collector recorded as that hour began, before any change
// in it), or, for the last point (Current), now — the summary's figures.
// Retired hosts are not counted.
type TrendPoint struct {
	Time         time.Time        `json:"time"`
	Hosts        int64            `json:"hosts"`
	Compliant    int64            `json:"compliant"`
	CompliantPct float64          `json:"compliant_pct"`
	ByStatus     map[string]int64 `json:"by_status"`
	Current      bool             `json:"current,omitempty"`
}

// TrendList is the body of GET /api/v1/trend, newest first; the last
// point is the current one.
type TrendList struct {
	Points []TrendPoint `json:"points"`
}

// WhoAmI is the body of GET /api/v1/whoami.
type WhoAmI struct {
	Name string `json:"name"`
	Role string `json:"role"` // "admin" or "viewer"
	// CSRF is the dashboard session's anti-forgery value (only when
	// signed in with the session cookie): the page sends it in the
	// X-Anchorwatch-CSRF header with an admin's host actions.
	CSRF string `json:"csrf,omitempty"`
}

// CredentialInfo describes an enroll secret or API token (never its value).
type CredentialInfo struct {
	Name      string    `json:"name"`
	Role      string    `json:"role,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// CredentialCreate is the body of POST /api/v1/admin/secrets and
// /api/v1/admin/tokens.
type CredentialCreate struct {
	Name string `json:"name"`
	Role string `json:"role,omitempty"` // tokens: "admin" or "viewer"
}

// CredentialCreated answers a create: Value is shown this once.
type CredentialCreated struct {
	Name  string `json:"name"`
	Role  string `json:"role,omitempty"`
	Value string `json:"value"`
}

// Rollout is how far the served policy serial has reached the fleet:
// the active hosts on it, on older serials (seen since the upload) and
// silent (not seen since the upload), now and sampled over time since
// the upload (Points, kept by the collector answering, from its start).
type Rollout struct {
	Serial     int64          `json:"serial"` // 0: no policy served
	UploadedAt time.Time      `json:"uploaded_at"`
	Now        RolloutPoint   `json:"now"`
	Points     []RolloutPoint `json:"points"`
}

// RolloutPoint counts hosts Seconds after the upload.
type RolloutPoint struct {
	Seconds float64 `json:"seconds"`
	On      int64   `json:"on"`
	Older   int64   `json:"older"`
	Silent  int64   `json:"silent"`
}
