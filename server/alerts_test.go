package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/pki"
	"github.com/anchorwatch/anchorwatch/pki/pkitest"
	"github.com/anchorwatch/anchorwatch/server"
	"github.com/anchorwatch/anchorwatch/server/servertest"
	"github.com/anchorwatch/anchorwatch/stores"
)

const (
	fleetRulesFile = "../deploy/prometheus/anchorwatch-fleet.rules.yml"
	grafanaFile    = "../deploy/grafana/anchorwatch-fleet.json"
)

// expAlert is an alert promtool must see firing.
type expAlert struct {
	name   string
	labels map[string]string // besides severity, which comes from the rules file
}

// ruleText reads an alert's severity and annotations from a rules file
// (the fleet rules' annotations are static, or name labels only).
func ruleText(t *testing.T, file, alert string) (severity string, ann map[string]string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	ann = map[string]string{}
	field := regexp.MustCompile(`^\s+(severity|summary|description): (.*)$`)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "- alert: ") {
			in = strings.TrimSpace(strings.SplitN(line, "- alert: ", 2)[1]) == alert
			continue
		}
		if m := field.FindStringSubmatch(line); in && m != nil {
			v := m[2]
			if uq, err := strconv.Unquote(v); err == nil {
				v = uq
			}
			if m[1] == "severity" {
				severity = v
			} else {
				ann[m[1]] = v
			}
		}
	}
	if severity == "" {
		t.Fatalf("%s: no alert %s", file, alert)
	}
	return severity, ann
}

// promtoolAlerts feeds series (scraped lines "name{labels}" → value,
// constant for four hours) to the rules in file and checks, at 3h, that
// exactly the alerts of want fire among those named in check. Templates
// in annotations ({{ $labels.x }}) are filled from the expected labels.
func promtoolAlerts(t *testing.T, file string, series map[string]float64, check []string, want []expAlert) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install the Debian package prometheus")
	}
	rules, _ := filepath.Abs(file)
	if out, err := exec.Command(promtool, "check", "rules", rules).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	keys := make([]string, 0, len(series))
	for k := range series {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "rule_files: [%q]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n", rules)
	for _, k := range keys {
		fmt.Fprintf(&b, "      - series: %q\n        values: '%gx240'\n", k, series[k])
	}
	b.WriteString("    alert_rule_test:\n")
	label := regexp.MustCompile(`\{\{ \$labels\.([a-z_]+) \}\}`)
	for _, name := range check {
		fmt.Fprintf(&b, "      - eval_time: 3h\n        alertname: %s\n        exp_alerts:", name)
		n := 0
		for _, w := range want {
			if w.name != name {
				continue
			}
			n++
			sev, ann := ruleText(t, file, name)
			labels := map[string]string{"severity": sev}
			for k, v := range w.labels {
				labels[k] = v
			}
			lj, _ := json.Marshal(labels)
			for k, v := range ann {
				ann[k] = label.ReplaceAllStringFunc(v, func(m string) string { return labels[label.FindStringSubmatch(m)[1]] })
			}
			aj, _ := json.Marshal(ann)
			fmt.Fprintf(&b, "\n          - exp_labels: %s\n            exp_annotations: %s", lj, aj)
		}
		if n == 0 {
			b.WriteString(" []")
		}
		b.WriteString("\n")
	}
	test := filepath.Join(t.TempDir(), "alerts.test.yml")
	if err := os.WriteFile(test, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "test", "rules", test).CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s\n%s", err, out, b.String())
	}
}

// asInstances gives every scraped series the labels two collectors behind
// a load balancer would have in Prometheus.
func asInstances(m map[string]float64, instances ...string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		name, rest, _ := strings.Cut(k, "{")
		rest = strings.TrimSuffix(rest, "}")
		for _, inst := range instances {
			l := `job="anchorwatch",instance="` + inst + `"`
			if rest != "" {
				l += "," + rest
			}
			out[name+"{"+l+"}"] = v
		}
	}
	return out
}

// fleetAlerts are the alerts of the fleet rules file.
var fleetAlerts = []string{"AnchorwatchStoreUnavailable", "AnchorwatchStoreErrors", "AnchorwatchFleetMetricsFailing",
	"AnchorwatchBlockedRootPresent", "AnchorwatchUnknownRootsRising", "AnchorwatchHostsOffline", "AnchorwatchPolicySerialLag",
	"AnchorwatchComplianceLow", "AnchorwatchFlaggedHosts"}

// TestFleetAlertRules drives a real collector into a fleet with offline
// hosts, a blocklisted root, hosts behind the served policy and a flagged
// host, scrapes /metrics as two collectors behind a load balancer would
// export it, and checks with promtool that the shipped rules fire each
// fleet alert once — and none about the healthy database.
func TestFleetAlertRules(t *testing.T) {
	c := servertest.StartCollector(t, servertest.Options{})
	ctx := context.Background()
	if err := c.Store.PutPolicy(ctx, 2, []byte("signed policy placeholder")); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := 0; i < 10; i++ {
		key, _ := c.Enroll(t, facts(fmt.Sprint("a", i)))
		keys = append(keys, key)
		if i == 9 {
			continue // pending
		}
		rep := report(key, "r", stores.StatusCompliant)
		rep.PolicySerial = 2
		if i == 6 || i == 7 {
			rep.PolicySerial = 1
		}
		if i == 8 {
			rep.UnknownRoots = []api.Root{{SHA256: strings.Repeat("ee", 32), Class: "blocked", Subject: "CN=Superfish, Inc.", Reason: "blocklist"}}
		}
		c.Report(t, rep)
	}
	code, body := c.Do(t, "POST", api.PathEnroll, "", api.EnrollRequest{EnrollSecret: c.EnrollSecret, Host: facts("a0")})
	if code != http.StatusOK || !strings.Contains(string(body), "conflict") {
		t.Fatalf("flagged enrollment: %d %s", code, body)
	}
	if _, err := c.Store.DB().ExecContext(ctx, "UPDATE hosts SET last_seen = ? WHERE hostname IN ('a0', 'a1') AND conflict_of = 0",
		time.Now().Add(-72*time.Hour).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	m := scrape(t, c, "anchorwatch_")
	for k, want := range map[string]float64{
		`anchorwatch_hosts_lifecycle{state="offline"}`: 2, `anchorwatch_hosts_lifecycle{state="flagged"}`: 1,
		`anchorwatch_hosts_lifecycle{state="retired"}`: 0, `anchorwatch_roots_seen{class="blocked"}`: 1,
		`anchorwatch_policy_serial`: 2, `anchorwatch_hosts_behind_policy`: 4, `anchorwatch_store_unavailable`: 0,
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	job := map[string]string{"job": "anchorwatch"}
	promtoolAlerts(t, fleetRulesFile, asInstances(m, "c1:8443", "c2:8443"), fleetAlerts, []expAlert{
		{"AnchorwatchBlockedRootPresent", map[string]string{"job": "anchorwatch", "class": "blocked"}},
		{"AnchorwatchHostsOffline", job},
		{"AnchorwatchPolicySerialLag", job},
		{"AnchorwatchComplianceLow", job},
		{"AnchorwatchFlaggedHosts", map[string]string{"job": "anchorwatch", "state": "flagged"}},
	})
}

// TestGrafanaDashboard checks the shipped Grafana dashboard: valid JSON,
// and every query names only metrics a real collector exports (scraped
// from one with hosts, a PKI-checked policy, reachability reports and
// network evidence, so that every family is present) or the shipped
// recording rules define.
func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile(grafanaFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string            `json:"title"`
		UID    string            `json:"uid"`
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", grafanaFile, err)
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && k == "expr" {
					exprs = append(exprs, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	var all any
	json.Unmarshal(data, &all)
	walk(all)
	if dash.Title == "" || dash.UID == "" || len(dash.Panels) < 10 || len(exprs) < 10 {
		t.Fatalf("%s: title %q, uid %q, %d panels, %d queries", grafanaFile, dash.Title, dash.UID, len(dash.Panels), len(exprs))
	}
	exported := exportedMetrics(t)
	rules, _ := os.ReadFile(fleetRulesFile)
	for _, m := range regexp.MustCompile(`record: (\S+)`).FindAllStringSubmatch(string(rules), -1) {
		exported[m[1]] = true
	}
	name := regexp.MustCompile(`\banchorwatch[_:][a-zA-Z0-9_:]*`)
	for _, e := range exprs {
		names := name.FindAllString(e, -1)
		if len(names) == 0 {
			t.Errorf("query %q names no anchorwatch metric", e)
		}
		for _, n := range names {
			if !exported[n] {
				t.Errorf("query %q: the collector exports no %s", e, n)
			}
		}
	}
}

// exportedMetrics returns the metric names a real collector exports once
// every part of it has data (histograms with their _bucket, _sum, _count).
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	p := pkitest.New(t)
	p.StartResponder(t, p.Root)
	c := servertest.StartCollector(t, servertest.Options{Config: server.Config{PKIProbeInterval: 300 * time.Millisecond}})
	if code, body := c.Do(t, "PUT", api.PathPolicy, c.AdminToken, pkitest.SignPolicy(t, 1, p.Root.Cert, p.Inter.Cert)); code != http.StatusOK {
		t.Fatalf("upload: %d %s", code, body)
	}
	waitPKI(t, c, func(l api.PKICheckList) bool { return len(l.Checks) == 2 })
	key, _ := c.Enroll(t, facts("g1"))
	c.Report(t, report(key, "r1", stores.StatusCompliant, stores.StatusMissing))
	if code, body := c.Do(t, "POST", api.PathReach, "", api.ReachReport{NodeKey: key, Results: []pki.Reach{
		{Kind: pki.KindCRL, URL: p.URL("root.crl"), CA: strings.Repeat("ab", 32), OK: true, CheckedAt: time.Now()}}}); code != http.StatusOK {
		t.Fatalf("reach: %d %s", code, body)
	}
	if code, body := c.Do(t, "POST", api.PathObservations, c.AdminToken, api.ObservationBatch{BatchID: "g", Observations: []api.Observation{
		{IP: "10.77.0.5", SeenAt: time.Now(), Source: "squid-access", Count: 1}}}); code != http.StatusOK {
		t.Fatalf("observations: %d %s", code, body)
	}
	code, body := c.Do(t, "GET", "/metrics", c.ViewerToken, nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	out := map[string]bool{}
	typ := regexp.MustCompile(`(?m)^# TYPE (\S+) (\S+)$`)
	for _, m := range typ.FindAllStringSubmatch(string(body), -1) {
		out[m[1]] = true
		if m[2] == "histogram" || m[2] == "summary" {
			out[m[1]+"_bucket"], out[m[1]+"_sum"], out[m[1]+"_count"] = true, true, true
		}
	}
	for _, want := range []string{"anchorwatch_ca_days_left", "anchorwatch_devices", "anchorwatch_pki_reach_failing_hosts", "anchorwatch_hosts_lifecycle"} {
		if !out[want] {
			t.Fatalf("the collector did not export %s: the test's fleet misses a part", want)
		}
	}
	return out
}
