// Package macaddr normalizes Ethernet (EUI-48) MAC addresses: the one
// helper every part of Anchorwatch that reads a MAC uses — network
// evidence parsers (server/evidence), the collector's observation API and
// device exemptions (server, server/devices), the addresses agents report
// (server/db) and the policy's device exemptions (policy) — so that a MAC
// is stored, matched and exempted in one form.
//
// Accepted, with surrounding white space ignored and hex digits in either
// case:
//
//	00:11:22:33:44:55   colon-separated pairs
//	00-11-22-33-44-55   hyphen-separated pairs (one separator throughout)
//	0011.2233.4455      Cisco dotted groups of four
//	001122334455        twelve bare hex digits
//
// Anything else is refused: other lengths (EUI-64, InfiniBand), mixed or
// misplaced separators, single-digit groups. The canonical form is
// lowercase colon-separated pairs, 00:11:22:33:44:55.
package macaddr
