package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/pki"
	"github.com/anchorwatch/anchorwatch/pki/pkitest"
	"github.com/anchorwatch/anchorwatch/server"
	"github.com/anchorwatch/anchorwatch/server/servertest"
)

const rulesFile = "../deploy/prometheus/anchorwatch-pki.rules.yml"

// waitPKI polls GET /api/v1/pki until ok accepts the answer.
func waitPKI(t *testing.T, c *servertest.Collector, ok func(api.PKICheckList) bool) api.PKICheckList {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var list api.PKICheckList
	for time.Now().Before(deadline) {
		code, body := c.Do(t, "GET", api.PathPKI, c.ViewerToken, nil)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", api.PathPKI, code, body)
		}
		list = api.PKICheckList{}
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatal(err)
		}
		if ok(list) {
			return list
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the collector's PKI checks never got there: %+v", list)
	return list
}

// scrape returns the /metrics samples whose name starts with prefix, as
// "name{labels}" → value.
func scrape(t *testing.T, c *servertest.Collector, prefix string) map[string]float64 {
	t.Helper()
	code, body := c.Do(t, "GET", "/metrics", c.ViewerToken, nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestPKIProbe: the collector checks every CA of the served policy (a
// PKI made with openssl ca, CRLs on a local HTTP server, openssl ocsp
// answering), exports the figures on /metrics, and the alert rules fire
// on what it exports when the CRL lapses (promtool test rules).
func TestPKIProbe(t *testing.T) {
	p := pkitest.New(t)
	p.StartResponder(t, p.Root)
	c := servertest.StartCollector(t, servertest.Options{Config: server.Config{PKIProbeInterval: 300 * time.Millisecond}})
	if code, body := c.Do(t, "PUT", api.PathPolicy, c.AdminToken, pkitest.SignPolicy(t, 1, p.Root.Cert, p.Inter.Cert)); code != http.StatusOK {
		t.Fatalf("upload: %d %s", code, body)
	}
	list := waitPKI(t, c, func(l api.PKICheckList) bool { return len(l.Checks) == 2 })
	inter, root := list.Checks[0], list.Checks[1] // soonest expiry first
	if inter.Role != pki.RoleIssuing || root.Role != pki.RoleRoot || inter.Issuer == nil || inter.Issuer.SHA256 != root.CA.SHA256 {
		t.Fatalf("roles %s/%s, issuer %+v", inter.Role, root.Role, inter.Issuer)
	}
	if inter.Failed() || root.Failed() || len(inter.CRLs) != 1 || len(inter.OCSP) != 1 || inter.OCSP[0].Status != pki.OCSPGood {
		t.Fatalf("fresh PKI: inter %v %+v %+v, root %v", inter.Failed(), inter.CRLs, inter.OCSP, root.Failed())
	}
	ca := inter.CA.SHA256[:16]
	crlURL, ocspURL := p.URL("root.crl"), fmt.Sprintf("http://127.0.0.1:%d", p.Root.OCSPPort)
	m := scrape(t, c, "anchorwatch_")
	if v := m[fmt.Sprintf(`anchorwatch_crl_next_update_seconds{ca="%s",url="%s"}`, ca, crlURL)]; v < 6*86400 || v > 7*86400 {
		t.Errorf("crl_next_update_seconds = %v, want about 7 days", v)
	}
	if v := m[fmt.Sprintf(`anchorwatch_ocsp_status{ca="%s",status="good",url="%s"}`, ca, ocspURL)]; v != 1 {
		t.Errorf("ocsp_status good = %v; metrics: %v", v, m)
	}
	if v := m[fmt.Sprintf(`anchorwatch_ca_days_left{ca="%s",role="issuing",subject="%s"}`, ca, inter.CA.Subject)]; v < 1093 || v > 1096 {
		t.Errorf("ca_days_left = %v", v)
	}

	// The CRL lapses: the next round sees it, /metrics says so.
	past := time.Now().UTC().Add(-72 * time.Hour)
	p.GenCRL(t, p.Root, "-crl_lastupdate", past.Format("20060102150405Z"), "-crl_nextupdate", past.Add(time.Hour).Format("20060102150405Z"))
	waitPKI(t, c, func(l api.PKICheckList) bool {
		return len(l.Checks) == 2 && len(l.Checks[0].CRLs) == 1 && !l.Checks[0].CRLs[0].OK
	})
	m = scrape(t, c, "anchorwatch_")
	next := fmt.Sprintf(`anchorwatch_crl_next_update_seconds{ca="%s",url="%s"}`, ca, crlURL)
	okKey := fmt.Sprintf(`anchorwatch_crl_ok{ca="%s",url="%s"}`, ca, crlURL)
	if m[next] > -70*3600 || m[okKey] != 0 {
		t.Fatalf("after the lapse: %s = %v, %s = %v", next, m[next], okKey, m[okKey])
	}
	runPromtoolTest(t, m, ca, crlURL)
}

// runPromtoolTest feeds the scraped PKI series, constant for an hour, to
// the shipped alert rules: the CRL alerts fire with the collector's
// labels and the OCSP alert does not.
func runPromtoolTest(t *testing.T, m map[string]float64, ca, crlURL string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install the Debian package prometheus")
	}
	rules, _ := filepath.Abs(rulesFile)
	var series strings.Builder
	keep := regexp.MustCompile(`^anchorwatch_(crl_next_update_seconds|crl_ok|ocsp_status)\{`)
	for k, v := range m {
		if keep.MatchString(k) {
			fmt.Fprintf(&series, "      - series: '%s'\n        values: '%gx60'\n", k, v)
		}
	}
	alert := func(name, summary, desc string) string {
		return fmt.Sprintf(`      - eval_time: 30m
        alertname: %s
        exp_alerts:
          - exp_labels: {severity: critical, ca: %q, url: %q}
            exp_annotations:
              summary: %q
              description: %q
`, name, ca, crlURL, summary, desc)
	}
	test := "rule_files: [" + strconv.Quote(rules) + "]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n" + series.String() +
		"    alert_rule_test:\n" +
		alert("AnchorwatchCRLExpired", "CRL at "+crlURL+" has lapsed",
			"The nextUpdate of the CRL for CA "+ca+" has passed: clients that check revocation refuse the chain. Publish a fresh CRL now.") +
		alert("AnchorwatchCRLBroken", "CRL at "+crlURL+" fails its check",
			"The distribution point of CA "+ca+" is unreachable, serves no valid CRL, a CRL not signed by the issuer, or one that revokes the CA. Run: anchorwatch ca check.") +
		"      - eval_time: 30m\n        alertname: AnchorwatchOCSPNotGood\n        exp_alerts: []\n"
	file := filepath.Join(t.TempDir(), "pki.test.yml")
	if err := os.WriteFile(file, []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", rules).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if out, err := exec.Command(promtool, "test", "rules", file).CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s\n%s", err, out, test)
	}
}

// TestReachView: agents' reachability reports, sent to the real
// collector, come back as the subnets that cannot reach each endpoint.
func TestReachView(t *testing.T) {
	forEachBackend(t, servertest.Options{}, func(t *testing.T, c *servertest.Collector) {
		crl, ocspURL := "http://pki.corp.example/root.crl", "http://ocsp.corp.example"
		fp := strings.Repeat("ab", 32)
		now := time.Now().UTC()
		keys := map[string]string{} // node key per address
		send := func(ip string, crlOK bool) int {
			key, _ := c.Enroll(t, api.HostFacts{Hostname: "ws-" + ip, MachineID: "m-" + ip, OS: "linux", IPs: []string{ip, "127.0.0.1"}})
			keys[ip] = key
			detail := "CRL of 200 bytes"
			if !crlOK {
				detail = "timeout"
			}
			code, body := c.Do(t, "POST", api.PathReach, "", api.ReachReport{NodeKey: key, Results: []pki.Reach{
				{Kind: pki.KindCRL, URL: crl, CA: fp, OK: crlOK, Detail: detail, Millis: 12, CheckedAt: now},
				{Kind: pki.KindOCSP, URL: ocspURL, CA: fp, OK: true, Detail: "OCSP answer", Millis: 3, CheckedAt: now},
			}})
			if code != http.StatusOK {
				t.Fatalf("reach: %d %s", code, body)
			}
			return code
		}
		for i := 1; i <= 3; i++ {
			send(fmt.Sprintf("10.1.0.%d", i), true)
		}
		send("10.2.0.1", false)
		send("10.2.0.2", false)
		send("10.2.0.3", true)
		send("10.3.0.9", false)
		var list api.ReachList
		getReach := func(q string) {
			code, body := c.Do(t, "GET", api.PathPKIReach+q, c.ViewerToken, nil)
			if code != http.StatusOK {
				t.Fatalf("GET reach: %d %s", code, body)
			}
			list = api.ReachList{}
			if err := json.Unmarshal(body, &list); err != nil {
				t.Fatal(err)
			}
		}
		getReach("")
		if len(list.Endpoints) != 2 {
			t.Fatalf("endpoints: %+v", list.Endpoints)
		}
		e := list.Endpoints[0]
		if e.URL != crl || e.Hosts != 7 || e.Failing != 3 || len(e.Subnets) != 2 {
			t.Fatalf("CRL endpoint: %+v", e)
		}
		if s := e.Subnets[0]; s.Subnet != "10.2.0.0/24" || s.Hosts != 3 || s.Failing != 2 || s.Detail != "timeout" {
			t.Errorf("worst subnet: %+v", s)
		}
		if s := e.Subnets[1]; s.Subnet != "10.3.0.0/24" || s.Failing != 1 {
			t.Errorf("second subnet: %+v", s)
		}
		if o := list.Endpoints[1]; o.Kind != pki.KindOCSP || o.Failing != 0 || len(o.Subnets) != 0 {
			t.Errorf("OCSP endpoint: %+v", o)
		}
		getReach("?v4_prefix=8")
		if s := list.Endpoints[0].Subnets; len(s) != 1 || s[0].Subnet != "10.0.0.0/8" || s[0].Hosts != 7 || s[0].Failing != 3 {
			t.Errorf("/16: %+v", s)
		}
		// A host's new report replaces its old one.
		if code, body := c.Do(t, "POST", api.PathReach, "", api.ReachReport{NodeKey: keys["10.3.0.9"], Results: []pki.Reach{{Kind: pki.KindCRL, URL: crl, CA: fp, OK: true, CheckedAt: now}}}); code != http.StatusOK {
			t.Fatalf("re-report: %d %s", code, body)
		}
		getReach("")
		if e := list.Endpoints[0]; e.Failing != 2 || len(e.Subnets) != 1 {
			t.Errorf("after the re-report: %+v", e)
		}
		m := scrape(t, c, "anchorwatch_pki_reach_failing_hosts")
		if v := m[fmt.Sprintf(`anchorwatch_pki_reach_failing_hosts{kind="crl",url="%s"}`, crl)]; v != 2 {
			t.Errorf("metric: %v", m)
		}
	})
}

// TestReachRefused: bad reports are refused with the reason.
func TestReachRefused(t *testing.T) {
	c := servertest.StartCollector(t, servertest.Options{})
	key, _ := c.Enroll(t, api.HostFacts{Hostname: "h", MachineID: "m", OS: "linux"})
	ok := pki.Reach{Kind: pki.KindCRL, URL: "http://pki.example/a.crl", OK: true}
	for _, tc := range []struct {
		name string
		body any
		code int
	}{
		{"no node key", api.ReachReport{Results: []pki.Reach{ok}}, http.StatusUnauthorized},
		{"unknown node key", api.ReachReport{NodeKey: "awn_" + strings.Repeat("x", 40), Results: []pki.Reach{ok}}, http.StatusUnauthorized},
		{"dashboard token as node key", api.ReachReport{NodeKey: c.AdminToken, Results: []pki.Reach{ok}}, http.StatusUnauthorized},
		{"bad kind", api.ReachReport{NodeKey: key, Results: []pki.Reach{{Kind: "ldap", URL: ok.URL}}}, http.StatusBadRequest},
		{"not a URL", api.ReachReport{NodeKey: key, Results: []pki.Reach{{Kind: pki.KindCRL, URL: "file:///etc/passwd"}}}, http.StatusBadRequest},
		{"twice", api.ReachReport{NodeKey: key, Results: []pki.Reach{ok, ok}}, http.StatusBadRequest},
		{"unknown field", `{"node_key":"` + key + `","results":[],"extra":1}`, http.StatusBadRequest},
		{"too many", api.ReachReport{NodeKey: key, Results: manyReach(api.MaxReachResults + 1)}, http.StatusBadRequest},
	} {
		if code, body := c.Do(t, "POST", api.PathReach, "", tc.body); code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.code)
		}
	}
	if code, _ := c.Do(t, "GET", api.PathPKIReach, "", nil); code != http.StatusUnauthorized {
		t.Errorf("reach view without a token: %d", code)
	}
	if code, _ := c.Do(t, "GET", api.PathPKIReach+"?v4_prefix=99", c.ViewerToken, nil); code != http.StatusBadRequest {
		t.Errorf("bad prefix: %d", code)
	}
}

func manyReach(n int) []pki.Reach {
	out := make([]pki.Reach, n)
	for i := range out {
		out[i] = pki.Reach{Kind: pki.KindCRL, URL: fmt.Sprintf("http://pki.example/%d.crl", i)}
	}
	return out
}
