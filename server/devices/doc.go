// Package devices finds unmanaged devices: it stores the network evidence
// parsed by server/evidence (as an evidence.Store, with resumable
// checkpoints) in the collector database, matches what was seen on the
// network against the addresses enrolled agents report, and applies
// exemptions.
//
// Its tables live in the collector's database (net_observations,
// evidence_checkpoints, device_exemptions, versioned in devices_schema);
// their schema, the dialect, placeholders and migrations are server/db's,
// and Open has server/db migrate them. The device logic stays a package
// of its own because it is a separate concern with its own vocabulary
// (observations, leases, exemptions, CSV export) that reads the
// collector's hosts and host_addresses tables but never writes them:
// folded into server/db it would double that package and hide the
// matcher among the report-ingest code. SQLite and PostgreSQL are both
// supported.
//
// Matching (classify.go, pure: observations, enrolled hosts and
// exemptions in, devices out; match.go reads the inputs), per device (a
// MAC when one is known, else an IP address, else a hostname): an
// observation without a MAC takes the MAC of the DHCP lease
// that held its address at that time (leases expire and addresses move). A
// device is managed when an enrolled host reported its MAC, reported its
// IP address over a period that overlaps when the device was seen, or has
// its hostname. Otherwise it is exempt when an active exemption (subnet,
// MAC, hostname pattern) covers it, and unmanaged if not. Exempt devices
// are listed, marked exempt, never hidden. MAC addresses are normalized
// by internal/macaddr everywhere. A malformed exemption is a
// *ValidationError.
//
// Handshake evidence keeps its kind (evidence.KindOf): a device lists the
// kinds of its failed TLS handshakes with the proxy (TLSFailures), and only
// a refused certificate makes it RejectsCA — a client that offers only old
// protocols, or gives up mid-handshake, may trust the CA.
package devices
