// Package loadgen simulates a fleet of agents against a collector, in the
// style of Fleet's osquery-perf: N hosts enroll, then report at a total
// rate R with realistic reports (about ten stores each across system,
// NSS, Java and Firefox kinds; a share of hosts drift, sending a full
// report with removed/healed events; the rest send heartbeats). Run
// measures acknowledged reports per second and ingest latency
// percentiles at an offered rate; Saturate measures capacity — the rate
// rises step by step until p99 latency passes a bound, a report fails or
// the rate is not reached — and reports the maximum sustained rate.
// Converge measures fleet convergence: every simulated agent holds a
// policy wait (GET /api/v1/policy/wait) as the agent does, a new policy
// is uploaded while reports go on, and the run reports the time until
// 50, 99 and 100% of the agents reported its serial, beside the report
// rate before and during the rollout. Config.Progress reports how a run
// goes. Seed bulk-fills a database with hosts for query benchmarks.
//
// Loads go only to the URL given (tests and the CLI use 127.0.0.1), and
// every run is bounded by its Duration and context.
package loadgen
