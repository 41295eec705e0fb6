package api

import "time"

// Paths of the unmanaged-device API (see docs/unmanaged.md). Posting
// observations and changing exemptions need an admin token; reading needs
// a viewer token.
const (
	PathDevices        = "/api/v1/devices"         // GET device list (?format=csv for CSV)
	PathDevicesSummary = "/api/v1/devices/summary" // GET DeviceSummary
	PathExemptions     = "/api/v1/exemptions"      // GET list, POST add, DELETE ?kind=&value=
)

// DeviceStatus is what the collector makes of a device seen on the network
// (the status of an entry of the PathDevices list, and its ?status=
// filter).
type DeviceStatus string

// Device statuses.
const (
	DeviceUnmanaged DeviceStatus = "unmanaged" // no enrolled host accounts for it
	DeviceExempt    DeviceStatus = "exempt"    // unmanaged, but an exemption covers it
	DeviceManaged   DeviceStatus = "managed"   // an enrolled host accounts for it
)

// DeviceStatuses returns every device status.
func DeviceStatuses() []DeviceStatus {
	return []DeviceStatus{DeviceUnmanaged, DeviceExempt, DeviceManaged}
}

// Limits of POST /api/v1/observations.
const (
	MaxObservations  = 10000 // observations in one batch; more is refused with 400
	MaxBatchIDLength = 128
	MaxSourceLength  = 64
)

// Observation is one device seen on the network, as an evidence source
// posts it: at least one of IP, MAC and Hostname, and when it was seen.
type Observation struct {
	IP       string    `json:"ip,omitempty"`
	MAC      string    `json:"mac,omitempty"`      // any common notation
	Hostname string    `json:"hostname,omitempty"` // compared case-insensitively
	SeenAt   time.Time `json:"seen_at"`            // first sighting
	LastSeen time.Time `json:"last_seen,omitzero"` // last sighting; default SeenAt
	Count    int64     `json:"count,omitempty"`    // sightings aggregated; default 1
	// Source names the evidence: squid-access, squid-cache, dhcpd, kea,
	// dnsmasq, csv, or a name of your own (letters, digits, . _ : -).
	Source string `json:"source"`
	// Evidence is why the sighting matters; text starting with
	// "rejected the interception certificate" marks a device that refused
	// the organization's CA.
	Evidence string    `json:"evidence,omitempty"`
	LeaseEnd time.Time `json:"lease_end,omitzero"` // DHCP: when the lease ends
}

// ObservationBatch is the body of POST /api/v1/observations. BatchID makes
// it exactly-once: a batch id the collector already stored is acknowledged
// as a duplicate and changes nothing, so a sender retries a batch whose
// answer it lost with the same id.
type ObservationBatch struct {
	BatchID      string        `json:"batch_id"`
	Observations []Observation `json:"observations"`
}

// ObservationsResponse acknowledges a stored batch.
type ObservationsResponse struct {
	BatchID   string `json:"batch_id"`
	Accepted  int    `json:"accepted"`  // observations stored (0 for a duplicate)
	Duplicate bool   `json:"duplicate"` // the batch id was already stored
}

// DeviceSummary is the body of GET /api/v1/devices/summary: how many
// devices seen on the network are unmanaged, exempt and managed.
type DeviceSummary struct {
	GeneratedAt          time.Time `json:"generated_at"`
	Unmanaged            int64     `json:"unmanaged"`
	Exempt               int64     `json:"exempt"`
	Managed              int64     `json:"managed"`
	UnmanagedRejectingCA int64     `json:"unmanaged_rejecting_ca"`
}
