package server

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/store"
	"github.com/anchorwatch/anchorwatch/stores/inventory"
)

// metrics are the collector's own Prometheus metrics, in a registry per
// Server (no global state). The compliance gauges are read from the
// database at scrape time, so every collector behind a load balancer
// reports the same fleet.
type metrics struct {
	reg            *prometheus.Registry
	reports        *prometheus.CounterVec
	enrolls        *prometheus.CounterVec
	ingest         *prometheus.HistogramVec
	commitDuration prometheus.Histogram
	batchSize      prometheus.Histogram
	requests       *prometheus.CounterVec
	// storeErrors counts failed database operations by operation and
	// class (unavailable: disk full, I/O, connection; other);
	// storeUnavailable is 1 while the last write failed as unavailable.
	storeErrors      *prometheus.CounterVec
	storeUnavailable prometheus.Gauge
	// policyWakes counts policy waits by how they ended (policywait.go).
	policyWakes *prometheus.CounterVec
	// policyWakeHeld counts pauses of the wake-ups while the writer is behind.
	policyWakeHeld prometheus.Counter
}

func newMetrics(s *Server) *metrics {
	st := s.st
	m := &metrics{
		reg: prometheus.NewRegistry(),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anchorwatch_reports_total", Help: "Agent reports received, by kind and result (stored, duplicate, rejected, node_invalid, error).",
		}, []string{"kind", "result"}),
		enrolls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anchorwatch_enrollments_total", Help: "Enrollment requests, by result (enrolled, reenrolled, flagged, secret_invalid, proof_invalid, throttled, rejected, error).",
		}, []string{"result"}),
		ingest: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "anchorwatch_ingest_duration_seconds",
			Help:    "Time from receiving a report or enrollment to acknowledging it (committed).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"kind"}),
		commitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "anchorwatch_commit_duration_seconds",
			Help:    "Duration of one group-commit transaction.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "anchorwatch_commit_batch_size",
			Help:    "Reports and enrollments written per group-commit transaction.",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000},
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anchorwatch_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "anchorwatch_store_errors_total",
			Help: "Failed database operations, by operation (write: reports and enrollments, answered 503 or 500; maintenance) and class (unavailable: disk full, I/O error, connection lost; other).",
		}, []string{"op", "class"}),
		storeUnavailable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "anchorwatch_store_unavailable", Help: "1 while the last write failed because the database could not commit (disk full, I/O error, connection lost).",
		}),
	}
	m.policyWakes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "anchorwatch_policy_waits_total",
		Help: "Agents' policy waits, by how they ended: new_serial (woken by a newer policy), timeout (204), refused (503: over the waiter cap).",
	}, []string{"result"})
	for _, r := range []string{"new_serial", "timeout", "refused"} {
		m.policyWakes.WithLabelValues(r)
	}
	waiters := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "anchorwatch_policy_waiters", Help: "Agents holding a policy wait open on this collector.",
	}, func() float64 { return float64(s.pub.waiters.Load()) })
	m.policyWakeHeld = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "anchorwatch_policy_wake_pauses_total",
		Help: "10 ms pauses of the policy wake-ups while the writer was behind (back-pressure: reports first).",
	})
	m.reg.MustRegister(m.policyWakes, m.policyWakeHeld, waiters)
	m.storeErrors.WithLabelValues("write", "unavailable")
	m.storeErrors.WithLabelValues("write", "other")
	m.reg.MustRegister(m.reports, m.enrolls, m.ingest, m.commitDuration, m.batchSize, m.requests, m.storeErrors, m.storeUnavailable,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&fleetCollector{st: st, opts: store.SummaryOptions{OfflineAfter: s.cfg.OfflineAfter, StaleAfter: s.cfg.StaleAfter}})
	return m
}

// fleetCollector exports the fleet aggregates as gauges at scrape time.
type fleetCollector struct {
	st   *store.Store
	opts store.SummaryOptions
}

var (
	descHosts     = prometheus.NewDesc("anchorwatch_hosts", "Enrolled hosts by OS and status.", []string{"os", "status"}, nil)
	descStores    = prometheus.NewDesc("anchorwatch_stores", "Trust stores across the fleet by kind and status.", []string{"kind", "status"}, nil)
	descRatioOS   = prometheus.NewDesc("anchorwatch_compliance_ratio_by_os", "Share of hosts that are compliant, by OS (0-1).", []string{"os"}, nil)
	descRatioKind = prometheus.NewDesc("anchorwatch_compliance_ratio_by_store_kind", "Share of stores that are compliant, by store kind (0-1).", []string{"kind"}, nil)
	descScrapeErr = prometheus.NewDesc("anchorwatch_fleet_scrape_error", "1 if reading the fleet aggregates failed during this scrape.", nil, nil)
	descLifecycle = prometheus.NewDesc("anchorwatch_hosts_lifecycle",
		"Hosts by lifecycle state: offline and stale (active hosts not seen for the collector's --offline-after and --stale-after), retired (not in any other figure), flagged (possible clones).",
		[]string{"state"}, nil)
	descRoots  = prometheus.NewDesc("anchorwatch_roots_seen", "Distinct unknown and blocklisted roots held by active hosts, by class.", []string{"class"}, nil)
	descServed = prometheus.NewDesc("anchorwatch_policy_serial", "Serial of the policy the collector serves (0: none).", nil, nil)
	descBehind = prometheus.NewDesc("anchorwatch_hosts_behind_policy", "Active hosts whose last report names a policy serial below the served one (policy serial lag).", nil, nil)
)

func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descHosts
	ch <- descStores
	ch <- descRatioOS
	ch <- descRatioKind
	ch <- descScrapeErr
	ch <- descLifecycle
	ch <- descRoots
	ch <- descServed
	ch <- descBehind
}

func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := c.st.Aggregates(ctx)
	var sum *api.FleetSummary
	if err == nil {
		sum, err = c.st.SummaryWith(ctx, time.Now(), c.opts)
	}
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descScrapeErr, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(descScrapeErr, prometheus.GaugeValue, 0)
	c.collectSummary(ch, sum)
	type tot struct{ all, ok float64 }
	byOS, byKind := map[string]*tot{}, map[string]*tot{}
	add := func(m map[string]*tot, k, status string, n float64) {
		t := m[k]
		if t == nil {
			t = &tot{}
			m[k] = t
		}
		t.all += n
		if status == string(api.HostStatusCompliant) { // a store's is the same word (stores.StatusCompliant)
			t.ok += n
		}
	}
	for _, r := range rows {
		switch r.Dim {
		case store.DimOS:
			ch <- prometheus.MustNewConstMetric(descHosts, prometheus.GaugeValue, float64(r.N), r.Key, r.Status)
			add(byOS, r.Key, r.Status, float64(r.N))
		case store.DimKind:
			ch <- prometheus.MustNewConstMetric(descStores, prometheus.GaugeValue, float64(r.N), r.Key, r.Status)
			add(byKind, r.Key, r.Status, float64(r.N))
		}
	}
	for k, t := range byOS {
		if t.all > 0 {
			ch <- prometheus.MustNewConstMetric(descRatioOS, prometheus.GaugeValue, t.ok/t.all, k)
		}
	}
	for k, t := range byKind {
		if t.all > 0 {
			ch <- prometheus.MustNewConstMetric(descRatioKind, prometheus.GaugeValue, t.ok/t.all, k)
		}
	}
}

// collectSummary exports the summary's lifecycle counts, the roots seen
// and the policy serial lag.
func (c *fleetCollector) collectSummary(ch chan<- prometheus.Metric, sum *api.FleetSummary) {
	for state, n := range map[string]int64{"offline": sum.Offline, "stale": sum.Stale, "retired": sum.Retired, "flagged": sum.Flagged} {
		ch <- prometheus.MustNewConstMetric(descLifecycle, prometheus.GaugeValue, float64(n), state)
	}
	ch <- prometheus.MustNewConstMetric(descRoots, prometheus.GaugeValue, float64(sum.UnknownRoots), string(inventory.Unknown))
	ch <- prometheus.MustNewConstMetric(descRoots, prometheus.GaugeValue, float64(sum.BlockedRoots), string(inventory.Blocked))
	ch <- prometheus.MustNewConstMetric(descServed, prometheus.GaugeValue, float64(sum.PolicySerial))
	var behind int64
	for _, g := range sum.ByPolicySerial {
		if n, err := strconv.ParseInt(g.Key, 10, 64); err == nil && n < sum.PolicySerial {
			behind += g.Total
		}
	}
	ch <- prometheus.MustNewConstMetric(descBehind, prometheus.GaugeValue, float64(behind))
}
