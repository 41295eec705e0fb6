package api

import (
	"time"

	"github.com/anchorwatch/anchorwatch/pki"
)

// PKI health paths (docs/pki-health.md).
const (
	// PathReach: agents POST the reachability of each CDP and OCSP
	// responder from their own network position (node key in the body).
	PathReach = "/api/v1/reach"
	// PathPKI: the collector's own checks of every CA of the policy.
	PathPKI = "/api/v1/pki"
	// PathPKIReach: reachability across the fleet, by subnet.
	PathPKIReach = "/api/v1/pki/reach"
)

// MaxReachResults bounds the endpoints of one reachability report.
const MaxReachResults = 64

// ReachReport is the body of POST /api/v1/reach: the latest probe of
// every endpoint; it replaces what the host reported before.
type ReachReport struct {
	NodeKey string      `json:"node_key"`
	Results []pki.Reach `json:"results"`
}

// ReachResponse acknowledges a reachability report.
type ReachResponse struct {
	Status string `json:"status"` // "ok"
}

// PKICheckList is the answer of GET /api/v1/pki: the last check of every
// CA of the served policy (pki.Report, as `anchorwatch ca check --json`
// prints it).
type PKICheckList struct {
	GeneratedAt  time.Time    `json:"generated_at"`
	PolicySerial int64        `json:"policy_serial"`
	Checks       []pki.Report `json:"checks"`
}

// ReachList is the answer of GET /api/v1/pki/reach: for each endpoint,
// how many hosts reached it and which subnets did not.
type ReachList struct {
	GeneratedAt time.Time       `json:"generated_at"`
	Since       time.Time       `json:"since"` // reports older than this are left out
	Endpoints   []ReachEndpoint `json:"endpoints"`
}

// ReachEndpoint is one CDP or responder across the fleet.
type ReachEndpoint struct {
	Kind    string `json:"kind"` // "crl" or "ocsp"
	URL     string `json:"url"`
	CA      string `json:"ca_sha256"`
	Hosts   int64  `json:"hosts"`   // hosts that probed it
	Failing int64  `json:"failing"` // of those, the ones that could not fetch it
	// Subnets lists every subnet with a failing host, most failing first.
	Subnets []ReachSubnet `json:"subnets"`
}

// ReachSubnet is one subnet's view of an endpoint.
type ReachSubnet struct {
	Subnet  string `json:"subnet"`
	Hosts   int64  `json:"hosts"`
	Failing int64  `json:"failing"`
	// Detail is the most common reason among the failing hosts.
	Detail      string    `json:"detail"`
	LastChecked time.Time `json:"last_checked"`
}
