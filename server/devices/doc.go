// Package devices finds unmanaged devices: it stores the network evidence
// parsed by server/evidence (as an evidence.Store, with resumable
// checkpoints) in the collector database, matches what was seen on the
// network against the addresses enrolled agents report, and applies
// exemptions.
//
// It keeps its own tables in the collector's database (net_observations,
// evidence_checkpoints, device_exemptions, versioned in devices_schema) so
// it can be added to a database the store package migrates without
// touching that package's migrations. SQLite and PostgreSQL are both
// supported; it reads the store's hosts and host_addresses tables.
//
// Matching, per device (a MAC when one is known, else an IP address, else
// a hostname): an observation without a MAC takes the MAC of the DHCP lease
// that held its address at that time (leases expire and addresses move). A
// device is managed when an enrolled host reported its MAC, reported its
// IP address over a period that overlaps when the device was seen, or has
// its hostname. Otherwise it is exempt when an active exemption (subnet,
// MAC, hostname pattern) covers it, and unmanaged if not. Exempt devices
// are listed, marked exempt, never hidden.
//
// Handshake evidence keeps its kind (evidence.KindOf): a device lists the
// kinds of its failed TLS handshakes with the proxy (TLSFailures), and only
// a refused certificate makes it RejectsCA — a client that offers only old
// protocols, or gives up mid-handshake, may trust the CA.
package devices
