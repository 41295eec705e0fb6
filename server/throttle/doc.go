// Package throttle slows down credential guessing at the collector: it
// counts failed authentications (a dashboard sign-in, a bearer token, an
// enroll secret) per source address and per credential prefix, and once a
// key has failed more than a few times refuses further attempts from it
// for a delay that doubles with every failure (429 Too Many Requests,
// Retry-After), up to a cap. Memory is bounded: the limiter keeps at most
// a fixed number of keys and forgets the least recently failed first, and
// a key with no failure for a while is dropped.
//
// Source addresses are the TCP peer's, or, when the peer is a trusted
// reverse proxy, the last address it appended to X-Forwarded-For; IPv6
// sources count per /64 (one host usually holds the whole prefix).
package throttle
