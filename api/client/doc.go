// Package client is the one HTTP client to the collector: the agent
// (enroll, report, policy, policy wait, reachability) and the CLI
// (`collector ingest --url`) both use it, so there is one transport, one
// certificate pinning rule, one bound on every body read and one error
// type for an HTTP failure.
//
//   - client.go: Config, New (the transport), the JSON round trip with
//     bounded reads, the collector's clock from its Date header.
//   - pin.go: the pinning rule (a certificate fingerprint, a CA file or
//     both) and its typed errors ErrCertificate and ErrPinMismatch.
//   - errors.go: APIError (status, the collector's {"error":…} code and
//     detail, Retry-After), RefusedError, ErrBadAnswer and the sentinel
//     answers.
//   - agent.go: the agent's endpoints; admin.go: the admin token's.
//
// The pinning rule, documented in docs/security.md: a pinned fingerprint
// must be the SHA-256 of the leaf the collector presents, or of a CA in
// its chain that the leaf verifies up to for the host dialed (its mere
// presence in the chain proves nothing: the collector's certificate is
// public). With a CA file as well, the chain must verify against it too.
// A proxy only ever gets CONNECT: a plain-http collector URL is never
// proxied, TLS terminates at the collector, and the pin is checked on the
// chain the collector's end of the tunnel presents, so an intercepting
// proxy fails the pin.
package client
