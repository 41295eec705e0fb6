// Package evidence reads network evidence — the logs and lease files that
// show which devices are on the network — and turns it into Observations the
// collector matches against enrolled hosts to find unmanaged devices.
//
// Formats:
//
//   - squid-access: Squid's native access.log (client address is field 3);
//     lines are aggregated per client within a batch, so millions of lines
//     collapse into a few rows.
//   - squid-cache: Squid's cache.log lines showing a client that failed the
//     TLS handshake with the interception certificate (a device without the
//     CA); they become evidence on that client.
//   - dhcpd: ISC dhcpd.leases (the last block for an address wins).
//   - kea: Kea lease CSV (v4 or v6, columns found by header).
//   - dnsmasq: dnsmasq.leases.
//   - csv: a plain CSV of ip, mac, hostname, seen_at, source.
//
// Every parser streams: it reads lines through a bounded buffer, so memory
// does not grow with file size, and it never fails on bad input: malformed,
// partial and over-long lines are counted in Stats and skipped. Batches carry
// the byte offset of the last line they cover, so an ingest can checkpoint
// (see Checkpoint) and resume without duplicates; Follow tails a growing file
// across log rotation.
package evidence
