package api

import (
	"encoding/json"
	"time"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/inventory"
)

// SessionCookie names the web dashboard's session cookie: a session id
// (store.PrefixSession) the collector accepts for GET and HEAD only.
const SessionCookie = "anchorwatch_session"

// Paths of the agent API.
const (
	PathEnroll = "/api/v1/enroll"
	PathReport = "/api/v1/report"
	PathPolicy = "/api/v1/policy"
	// PathPolicyWait is the agents' long poll: GET ?serial=N answers
	// PolicyWaitResponse as soon as the served serial is above N, 204
	// when it held the request PolicyWaitMax without one, 503 with
	// Retry-After when too many agents wait already.
	PathPolicyWait   = "/api/v1/policy/wait"
	PathObservations = "/api/v1/observations"
)

// Limits the collector enforces and the agent respects.
const (
	MaxBodyBytes      = 4 << 20 // a request body over this is refused with 413
	MaxStores         = 1000    // stores in one report
	MaxEvents         = 10000   // events in one report
	MaxUnknownRoots   = 1000    // unknown roots in one report
	MaxAddrs          = 256     // IPs or MACs in host facts
	MaxStringLen      = 4096    // any single string field
	MaxReportIDLength = 128
)

// HostFacts identify a host; the collector uses IPs and MACs to tell
// managed devices from unmanaged ones.
type HostFacts struct {
	Hostname     string   `json:"hostname"`
	MachineID    string   `json:"machine_id"`
	OS           string   `json:"os"`         // "linux", "windows", "darwin"
	OSVersion    string   `json:"os_version"` // e.g. "Debian GNU/Linux 12 (bookworm)"
	Arch         string   `json:"arch"`
	AgentVersion string   `json:"agent_version"`
	IPs          []string `json:"ips,omitempty"`
	MACs         []string `json:"macs,omitempty"` // lowercase, colon-separated
}

// EnrollRequest is the body of POST /api/v1/enroll.
type EnrollRequest struct {
	EnrollSecret string    `json:"enroll_secret"`
	Host         HostFacts `json:"host"`
	// HostKey binds the host to a key pair only it holds: the public key
	// (PKIX DER, standard base64; Ed25519) of the pair the agent made at
	// its first enrollment and keeps in its state directory. Proof signs
	// this request with the private key. A machine id already enrolled is
	// enrolled again (new node key, same host) only with the key bound to
	// it, or with its current NodeKey; otherwise the collector creates a
	// new host, flagged as a possible clone or impersonation.
	HostKey string       `json:"host_key,omitempty"`
	Proof   *EnrollProof `json:"proof,omitempty"`
	// NodeKey is the agent's current node key, when it holds one: it binds
	// a host enrolled before host keys to its new HostKey.
	NodeKey string `json:"node_key,omitempty"`
}

// EnrollProof is the host key's signature over EnrollMessage: a fresh
// time (within EnrollProofWindow of the collector's clock) and a random
// nonce the collector accepts once.
type EnrollProof struct {
	Time      time.Time `json:"time"`
	Nonce     string    `json:"nonce"`     // at least 16 random bytes, hex
	Signature string    `json:"signature"` // Ed25519, standard base64
}

// EnrollProofWindow is how far a proof's time may be from the
// collector's clock. Agents take the collector's time from the Date
// header of its answers.
const EnrollProofWindow = 5 * time.Minute

// EnrollMessage is what a host key signs to enroll: a JSON array of a
// version tag, the machine id, the host key, the proof's time (RFC 3339,
// nanoseconds, UTC) and its nonce.
func EnrollMessage(machineID, hostKey string, t time.Time, nonce string) []byte {
	b, _ := json.Marshal([]string{"anchorwatch-enroll-v1", machineID, hostKey, t.UTC().Format(time.RFC3339Nano), nonce})
	return b
}

// EnrollResponse carries the per-host node key.
type EnrollResponse struct {
	NodeKey string `json:"node_key"`
	HostID  int64  `json:"host_id"`
	// Conflict is set when the machine id was already enrolled by another
	// key: this enrollment made a new host, flagged for an administrator
	// to merge (a re-imaged host) or retire (a clone, an impostor).
	Conflict string `json:"conflict,omitempty"`
}

// Report kinds.
const (
	ReportFull      = "full"      // state changed: every store's status
	ReportHeartbeat = "heartbeat" // unchanged since StateHash
)

// ReportRequest is the body of POST /api/v1/report. ReportID makes it
// idempotent: the same id sent twice is stored once.
type ReportRequest struct {
	NodeKey      string    `json:"node_key"`
	ReportID     string    `json:"report_id"`
	Kind         string    `json:"kind"` // ReportFull or ReportHeartbeat
	GeneratedAt  time.Time `json:"generated_at"`
	PolicySerial int64     `json:"policy_serial"`
	// StateHash is a digest of Stores, UnknownRoots and CAs; a heartbeat
	// carries the hash of the last full report.
	StateHash    string        `json:"state_hash"`
	Host         *HostFacts    `json:"host,omitempty"` // sent when facts changed
	Stores       []StoreStatus `json:"stores,omitempty"`
	UnknownRoots []Root        `json:"unknown_roots,omitempty"`
	CAs          []CA          `json:"cas,omitempty"`
	Events       []Event       `json:"events,omitempty"`
}

// StoreStatus is one store's compliance.
type StoreStatus struct {
	ID     string        `json:"id"`
	Kind   stores.Kind   `json:"kind"` // stores.KnownKinds, or a kind of a newer agent
	Path   string        `json:"path"`
	Format string        `json:"format,omitempty"`
	Owner  string        `json:"owner,omitempty"`
	Status stores.Status `json:"status"` // stores.Statuses
	Detail string        `json:"detail,omitempty"`
}

// Root is a trust anchor found on the host that is neither vendor nor
// managed: Class inventory.Unknown, or inventory.Blocked when it is on the
// blocklist.
type Root struct {
	SHA256   string          `json:"sha256"`
	SPKI     string          `json:"spki_sha256,omitempty"`
	Subject  string          `json:"subject"`
	Issuer   string          `json:"issuer,omitempty"`
	NotAfter time.Time       `json:"not_after"`
	Class    inventory.Class `json:"class"` // inventory.Unknown or inventory.Blocked
	Reason   string          `json:"reason,omitempty"`
	StoreIDs []string        `json:"store_ids"`
}

// CA is one of the policy's anchors as the host sees it, for CA-expiry
// and hygiene views across the fleet.
type CA struct {
	SHA256   string    `json:"sha256"`
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
}

// EventType names what an event records. The collector stores any
// well-formed type (lowercase letters, digits and '-'), so an agent newer
// than the collector may send types this list does not hold yet.
type EventType string

// Drift and policy events the agent writes.
const (
	EventRemoved        EventType = "removed"               // our CA disappeared from a store
	EventHealed         EventType = "healed"                // the agent put it back
	EventHealFailed     EventType = "heal-failed"           // putting it back failed; Detail says why
	EventUnknownRoot    EventType = "unknown-root-appeared" // a root neither vendor nor managed appeared
	EventBlockedRoot    EventType = "blocked-root-appeared" // a blocklisted root appeared
	EventPolicyApplied  EventType = "policy-applied"
	EventPolicyRejected EventType = "policy-rejected" // unsigned, wrong signer, tampered, replayed
	EventInstalled      EventType = "installed"       // first install of a CA into a store
	EventRemovedByPol   EventType = "removed-by-policy"
)

// Policy expiry events (a refused expired policy is policy-rejected).
const (
	EventPolicyExpiring EventType = "policy-expiring" // the policy in force expires soon: publish a new one
	EventPolicyExpired  EventType = "policy-expired"  // the policy in force has expired; it stays in force
)

// Events of the policy's distrust section.
const (
	// EventDistrusted: a CA the policy distrusts is now refused by a store
	// that can express distrust (Detail: first time, or added back).
	EventDistrusted EventType = "distrusted"
	// EventUndistrusted: the policy no longer distrusts a CA; the distrust
	// record the agent wrote was taken out (no trust is added).
	EventUndistrusted EventType = "undistrusted"
)

// Events the collector writes itself, on the hosts concerned.
const (
	EventEnrollConflict EventType = "enroll-conflict"  // a machine id enrolled again without its host key
	EventHostMerged     EventType = "host-merged"      // an administrator merged a flagged host into this one
	EventNodeKeyRevoked EventType = "node-key-revoked" // an administrator revoked the host's node key
	// EventHostRetired and EventHostReactivated: a host's lifecycle
	// changed (retired by an administrator or for staleness; reporting
	// again).
	EventHostRetired     EventType = "host-retired"
	EventHostReactivated EventType = "host-reactivated"
)

// Event is one drift or policy event. ID is unique per host (a UUID) so an
// event spooled offline and sent twice is stored once.
type Event struct {
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	Type    EventType `json:"type"`
	StoreID string    `json:"store_id,omitempty"`
	SHA256  string    `json:"sha256,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// ReportResponse acknowledges a committed report.
type ReportResponse struct {
	Status    string `json:"status"`    // "ok"
	Duplicate bool   `json:"duplicate"` // this report id was already stored
	// PolicySerial is the serial of the policy the collector serves, so
	// an agent holding an older one knows to fetch it.
	PolicySerial int64 `json:"policy_serial"`
	// NeedFull asks the agent to send a full report next: a heartbeat
	// named a state hash the collector does not hold (e.g. after a
	// restore or a re-enrollment).
	NeedFull bool `json:"need_full,omitempty"`
}

// Error codes in ErrorResponse.Error.
const (
	ErrNodeInvalid   = "node_invalid" // unknown or revoked node key: re-enroll
	ErrUnauthorized  = "unauthorized"
	ErrForbidden     = "forbidden"
	ErrBadRequest    = "bad_request"
	ErrTooLarge      = "too_large"
	ErrNotFound      = "not_found"
	ErrInternal      = "internal"
	ErrSecretInvalid = "enroll_secret_invalid"
	ErrProofInvalid  = "enroll_proof_invalid" // host key proof missing, wrong, stale or replayed
	ErrTooMany       = "too_many_requests"    // failed attempts from this source: wait Retry-After
	// ErrUnavailable (503 with Retry-After): the collector is stopping or
	// its database cannot commit for now (disk full, connection lost);
	// send the same request again later.
	ErrUnavailable = "unavailable"
)

// ErrorResponse is the body of every non-2xx answer.
type ErrorResponse struct {
	Error  string `json:"error"`
	Detail string `json:"detail,omitempty"`
}

// PolicyWaitResponse answers GET PathPolicyWait when a newer policy is
// served: the agent fetches it from PathPolicy.
type PolicyWaitResponse struct {
	PolicySerial int64 `json:"policy_serial"`
}

// PolicyWaitMax is about how long the collector holds a policy wait at
// most (each is held between 5/6 and 7/6 of its hold, so the fleet's
// polls do not line up), plus the spread of a wake-up; an agent's own
// deadline must exceed 7/6 of it plus that spread.
const PolicyWaitMax = 55 * time.Second
