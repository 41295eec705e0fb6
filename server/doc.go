// Package server is the collector: the HTTP service every agent reports to
// and every compliance dashboard queries.
//
// New builds it over a store.Store (SQLite or PostgreSQL):
//
//	st, _ := store.Open(ctx, "postgres://…")
//	srv, _ := server.New(server.Config{Store: st, UI: webHandler})
//	defer srv.Close()
//	err := server.ListenAndServe(ctx, server.ListenConfig{Addr: ":8443", Handler: srv, SelfSignedDir: dataDir})
//
// ListenAndServe (listen.go) is the production HTTP server `collector
// serve` runs: TLS by default (a self-signed certificate made in the data
// directory unless one is given), every phase of a connection bounded,
// and a graceful shutdown when ctx ends (policy waits drained at once).
//
// Routes (docs/collector.md has the reference with curl examples):
//
//	POST /api/v1/enroll        enroll secret → node key          (agents)
//	POST /api/v1/report        node key in the body; idempotent   (agents)
//	GET  /api/v1/policy        signed policy blob                 (agents: node key header; tokens)
//	GET  /api/v1/policy/wait   long poll for a newer serial       (agents; policywait.go)
//	GET  /api/v1/policy/rollout  the served serial's rollout      (viewer or admin token; rollout.go)
//	GET  /api/v1/summary …     dashboard JSON API                 (viewer or admin token)
//	PUT  /api/v1/policy, /api/v1/admin/… writes                   (admin token)
//	POST /api/v1/hosts/{id}/retire, DELETE …  the fleet lifecycle  (admin token or session; lifecycle.go)
//	POST /api/v1/reach         CDP/OCSP reachability; node key    (agents; pkihealth.go)
//	GET  /api/v1/pki, /pki/reach  CA checks, reachability by subnet (viewer or admin token)
//	GET  /metrics              Prometheus                         (any token, or public by Config)
//	/                          Config.UI, the web dashboard
//
// Writes go through one group-commit writer per process: reports and
// enrollments that arrive while a transaction commits are written together
// in the next one, and each request is acknowledged only after its
// transaction committed. State lives in the database only, so several
// collectors may serve one PostgreSQL behind a load balancer.
//
// A database that cannot commit or answer (store.IsUnavailable: disk
// full, I/O error, lost connection) is a 503 with Retry-After, and a
// repeated error is logged once per interval with a count (errlog.go).
// Hosts not seen for StaleAfter are stale, for RetireAfter retired; events,
// snapshots and report ids are pruned past their retention in small
// transactions off the writer (Maintain, lifecycle.go).
//
// A policy is published in one place (policyblob.go), for the API and the
// CLI alike: CheckPolicyUpload reads the signed blob with the policy
// package's guarded parser (policy.Inspect), PublishPolicy stores it and
// imports its device exemptions. Failures are told apart by type: the
// blob's fault is a 400 with the reason, a stale serial a 409, the
// database a 503 or a 500 that names nothing internal.
//
// Every request body is read under api.MaxBodyBytes (413 beyond), must be
// valid UTF-8 and strict JSON (unknown fields are refused) and within the
// api limits; anything else is a 400 with a reason, never a 500.
package server
