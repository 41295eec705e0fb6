package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anchorwatch/anchorwatch/pki"
	"github.com/anchorwatch/anchorwatch/server/db"
)

// pkiCollector exports the stored PKI checks and the fleet's
// reachability as gauges at scrape time (from the database, so every
// collector behind a load balancer reports the same). The alert rules in
// deploy/prometheus/anchorwatch-pki.rules.yml are written against these
// names.
type pkiCollector struct{ st *db.Store }

var (
	descCADaysLeft = prometheus.NewDesc("anchorwatch_ca_days_left", "Days until the CA expires (negative: expired), per CA of the served policy.",
		[]string{"ca", "subject", "role"}, nil)
	descCRLNext = prometheus.NewDesc("anchorwatch_crl_next_update_seconds", "Seconds until the nextUpdate of the CRL a CA's distribution point serves (negative: lapsed).",
		[]string{"ca", "url"}, nil)
	descCRLOK = prometheus.NewDesc("anchorwatch_crl_ok", "1 if the distribution point served a CRL that verifies against the issuer, is fresh and does not revoke the CA.",
		[]string{"ca", "url"}, nil)
	descOCSPStatus = prometheus.NewDesc("anchorwatch_ocsp_status", "1 for the status the OCSP responder last gave about the CA: good, revoked, unknown, unauthorized, unreachable, invalid, …",
		[]string{"ca", "url", "status"}, nil)
	descFindings = prometheus.NewDesc("anchorwatch_pki_findings", "Findings of the last check of the CA, by severity (error, warn, info).",
		[]string{"ca", "severity"}, nil)
	descChecked = prometheus.NewDesc("anchorwatch_pki_check_timestamp_seconds", "When the CA was last checked (Unix seconds).",
		[]string{"ca"}, nil)
	descReachFailing = prometheus.NewDesc("anchorwatch_pki_reach_failing_hosts", "Hosts that could not fetch the CDP or reach the OCSP responder in their last report (reports of the last 2 days).",
		[]string{"kind", "url"}, nil)
	descReachHosts = prometheus.NewDesc("anchorwatch_pki_reach_hosts", "Hosts that reported on the CDP or OCSP responder (reports of the last 2 days).",
		[]string{"kind", "url"}, nil)
	descPKIScrapeErr = prometheus.NewDesc("anchorwatch_pki_scrape_error", "1 if reading the PKI checks failed during this scrape.", nil, nil)
)

func (c *pkiCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCADaysLeft, descCRLNext, descCRLOK, descOCSPStatus, descFindings, descChecked,
		descReachFailing, descReachHosts, descPKIScrapeErr} {
		ch <- d
	}
}

func (c *pkiCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reports, err := c.st.PKIChecks(ctx)
	failed := err != nil
	now := time.Now()
	for _, r := range reports {
		c.collectReport(ch, r, now)
	}
	agg := newReachAgg(pki.DefaultV4Bits, pki.DefaultV6Bits)
	if err := c.st.EachReach(ctx, now.Add(-48*time.Hour), func(row db.ReachRow) error { agg.add(row); return nil }); err != nil {
		failed = true
	}
	for _, e := range agg.endpoints() {
		ch <- prometheus.MustNewConstMetric(descReachHosts, prometheus.GaugeValue, float64(e.Hosts), e.Kind, e.URL)
		ch <- prometheus.MustNewConstMetric(descReachFailing, prometheus.GaugeValue, float64(e.Failing), e.Kind, e.URL)
	}
	v := 0.0
	if failed {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(descPKIScrapeErr, prometheus.GaugeValue, v)
}

func (c *pkiCollector) collectReport(ch chan<- prometheus.Metric, r pki.Report, now time.Time) {
	ca := r.CA.SHA256
	if len(ca) > 16 {
		ca = ca[:16]
	}
	ch <- prometheus.MustNewConstMetric(descCADaysLeft, prometheus.GaugeValue, r.CA.NotAfter.Sub(now).Hours()/24, ca, r.CA.Subject, string(r.Role))
	ch <- prometheus.MustNewConstMetric(descChecked, prometheus.GaugeValue, float64(r.CheckedAt.Unix()), ca)
	for _, sev := range []pki.Severity{pki.SevError, pki.SevWarn, pki.SevInfo} {
		ch <- prometheus.MustNewConstMetric(descFindings, prometheus.GaugeValue, float64(r.Count(sev)), ca, string(sev))
	}
	seen := map[string]bool{}
	for _, crl := range r.CRLs {
		if seen[crl.URL] {
			continue // the same URL for the CA and its leaf: one series
		}
		seen[crl.URL] = true
		ok := 0.0
		if crl.OK {
			ok = 1
		}
		ch <- prometheus.MustNewConstMetric(descCRLOK, prometheus.GaugeValue, ok, ca, crl.URL)
		if !crl.NextUpdate.IsZero() {
			ch <- prometheus.MustNewConstMetric(descCRLNext, prometheus.GaugeValue, crl.NextUpdate.Sub(now).Seconds(), ca, crl.URL)
		}
	}
	seen = map[string]bool{}
	for _, o := range r.OCSP {
		if seen[o.URL] || o.Status == "" {
			continue
		}
		seen[o.URL] = true
		ch <- prometheus.MustNewConstMetric(descOCSPStatus, prometheus.GaugeValue, 1, ca, o.URL, o.Status)
	}
}
