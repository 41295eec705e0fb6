// Package agent is the Anchorwatch daemon: it enrolls with the collector,
// fetches and verifies the signed policy, reconciles every trust store on
// the host against it (install what is missing, remove what the policy
// removes, never touch vendor roots), then watches the stores and heals
// drift within milliseconds, reporting every change.
//
// The pieces, one file each:
//
//   - config.go: the agent's configuration file.
//   - facts.go: host identity (machine id, hostname, OS, IPs, MACs).
//   - the collector API is api/client (one client, one pinning rule,
//     shared with the CLI).
//   - spool.go: the bounded, fsynced on-disk outbox that makes delivery
//     survive an unreachable collector, exactly once.
//   - state.go: what persists in the state directory (node key, last good
//     policy, what the agent verified present).
//   - worker.go: one goroutine per store: debounce, list, heal, retry.
//   - watch.go: fsnotify on the stores' files and directories.
//   - classify.go: unknown and blocked roots.
//   - reach.go: probes of the CDPs and OCSP responders of the policy's
//     CAs from the host's network position (docs/pki-health.md).
//   - policywait.go: one policy wait held open at the collector, so a new
//     policy is fetched within seconds of its upload.
//   - agent.go: the loop tying them together.
//   - service.go: install as a system service (kardianos/service).
package agent
