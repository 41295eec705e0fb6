// Package evidence reads network evidence — the logs and lease files that
// show which devices are on the network — and turns it into Observations the
// collector matches against enrolled hosts to find unmanaged devices.
//
// Formats:
//
//   - squid-access: Squid's native access.log (client address is field 3);
//     lines are aggregated per client within a batch, so millions of lines
//     collapse into a few rows. Written with the anchorwatch logformat
//     (SquidLogFormat: the native fields, then %err_code/%err_detail and
//     TLS details), a failed TLS accept or a tunnel abandoned before its
//     handshake becomes evidence on that client, with its kind.
//   - squid-cache: Squid's cache.log lines showing a client that failed the
//     TLS handshake with the interception proxy; they become evidence on
//     that client, with the kind when Squid logs the reason.
//
// A handshake failure has a kind (HandshakeKind, read back from stored text
// with KindOf): the client refused the interception certificate (a
// certificate alert such as unknown_ca — a device without the CA), shared
// no protocol version or cipher with the proxy (an old client, which may
// trust the CA), went away or timed out, or the log does not say (Squid
// 5's cache.log). Only the first is evidence of a device without the CA.
//   - dhcpd: ISC dhcpd.leases, streamed in batches (within a batch the last
//     block for an address wins; a block written again in a later batch
//     is a later sighting, which the store keeps beside the earlier one).
//   - kea: Kea lease CSV (v4 or v6, columns found by header).
//   - dnsmasq: dnsmasq.leases.
//   - csv: a plain CSV of ip, mac, hostname, seen_at, source.
//
// Every parser streams: it reads lines through a bounded buffer and emits a
// batch every BatchLines lines or BatchObservations distinct devices, so
// memory does not grow with file size or device count, and it never fails
// on bad input: malformed, partial and over-long lines are counted in Stats
// and skipped. Batches carry the byte offset of the last line they cover,
// so an ingest can checkpoint (see Checkpoint) and resume without
// duplicates; Follow tails a growing file across log rotation.
package evidence
