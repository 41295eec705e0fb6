package server_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.mozilla.org/pkcs7"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server"
	"github.com/anchorwatch/anchorwatch/server/servertest"
	"github.com/anchorwatch/anchorwatch/server/throttle"
	"github.com/anchorwatch/anchorwatch/stores"
)

func facts(name string) api.HostFacts {
	return api.HostFacts{Hostname: name, MachineID: "mid-" + name, OS: "linux", OSVersion: "Debian GNU/Linux 12", Arch: "amd64",
		AgentVersion: "0.1.0", IPs: []string{"192.0.2.10"}, MACs: []string{"02:00:00:00:00:01"}}
}

func report(key, id string, statuses ...stores.Status) *api.ReportRequest {
	r := &api.ReportRequest{NodeKey: key, ReportID: id, Kind: api.ReportFull, GeneratedAt: time.Now(), PolicySerial: 1, StateHash: id}
	for i, st := range statuses {
		r.Stores = append(r.Stores, api.StoreStatus{ID: fmt.Sprintf("nss:/home/u%d/.pki/nssdb", i), Kind: stores.KindNSS, Path: fmt.Sprintf("/home/u%d/.pki/nssdb", i), Status: st})
	}
	r.CAs = []api.CA{{SHA256: "aa11", Subject: "CN=Corp Inspection CA", NotAfter: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)}}
	return r
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, body, err)
	}
	return v
}

func errCode(t *testing.T, body []byte) string {
	t.Helper()
	return decode[api.ErrorResponse](t, body).Error
}

func TestEnrollReportQuery(t *testing.T) {
	forEachBackend(t, servertest.Options{}, func(t *testing.T, c *servertest.Collector) {
		key, id := c.Enroll(t, facts("web-1"))
		rep := report(key, "r-1", stores.StatusCompliant, stores.StatusMissing)
		rep.Events = []api.Event{{ID: "ev-1", Type: api.EventRemoved, StoreID: rep.Stores[1].ID, Time: time.Now()}}
		if rr := c.Report(t, rep); rr.Status != "ok" || rr.Duplicate {
			t.Fatalf("first ack: %+v", rr)
		}
		if rr := c.Report(t, rep); !rr.Duplicate {
			t.Fatalf("resent report not flagged duplicate: %+v", rr)
		}
		hb := &api.ReportRequest{NodeKey: key, ReportID: "r-2", Kind: api.ReportHeartbeat, PolicySerial: 1, StateHash: "r-1"}
		if rr := c.Report(t, hb); rr.NeedFull {
			t.Fatalf("heartbeat with the stored state hash asked for a full report: %+v", rr)
		}
		// A heartbeat naming another state, or from a host that never sent
		// a full report, asks for a full report.
		hb2 := &api.ReportRequest{NodeKey: key, ReportID: "r-2b", Kind: api.ReportHeartbeat, PolicySerial: 1, StateHash: "restored"}
		if rr := c.Report(t, hb2); !rr.NeedFull {
			t.Fatalf("heartbeat with a stale state hash: %+v", rr)
		}

		code, body := c.Do(t, "GET", fmt.Sprintf("%s/%d", api.PathHosts, id), c.ViewerToken, nil)
		if code != 200 {
			t.Fatalf("host: %d %s", code, body)
		}
		h := decode[api.HostDetail](t, body)
		if h.Status != api.HostStatusNoncompliant || len(h.Stores) != 2 || len(h.Events) != 1 || h.Hostname != "web-1" || len(h.Addresses) != 2 {
			t.Fatalf("host detail: %+v", h)
		}
		code, body = c.Do(t, "GET", api.PathSummary+"?offline_after=1h", c.ViewerToken, nil)
		sum := decode[api.FleetSummary](t, body)
		if code != 200 || sum.Hosts != 1 || sum.ByStatus["noncompliant"] != 1 || len(sum.ByStoreKind) != 1 || sum.ByStoreKind[0].Total != 2 || sum.Offline != 0 {
			t.Fatalf("summary: %d %+v", code, sum)
		}
		code, body = c.Do(t, "GET", api.PathHosts+"?status=noncompliant&os=linux&hostname=WEB&store_kind=nss&store_status=missing&limit=10", c.ViewerToken, nil)
		if list := decode[api.HostList](t, body); code != 200 || len(list.Hosts) != 1 {
			t.Fatalf("hosts: %d %s", code, body)
		}
		code, body = c.Do(t, "GET", api.PathEvents+"?since="+time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), c.ViewerToken, nil)
		if ev := decode[api.EventList](t, body); code != 200 || len(ev.Events) != 1 || ev.Events[0].Hostname != "web-1" {
			t.Fatalf("events: %d %s", code, body)
		}
		code, body = c.Do(t, "GET", api.PathCAs, c.ViewerToken, nil)
		if cas := decode[api.CAExpiryList](t, body); code != 200 || len(cas.CAs) != 1 || cas.CAs[0].Hosts != 1 {
			t.Fatalf("cas: %d %s", code, body)
		}
		code, body = c.Do(t, "GET", api.PathHostsCSV+"?status=noncompliant", c.ViewerToken, nil)
		if code != 200 || !strings.HasPrefix(string(body), "id,hostname,") || strings.Count(string(body), "\n") != 2 {
			t.Fatalf("csv: %d %s", code, body)
		}
		code, body = c.Do(t, "GET", api.PathTrend, c.ViewerToken, nil)
		if tr := decode[api.TrendList](t, body); code != 200 || len(tr.Points) != 1 {
			t.Fatalf("trend: %d %s", code, body)
		}
		code, body = c.Do(t, "GET", api.PathRoots, c.ViewerToken, nil)
		if code != 200 {
			t.Fatalf("roots: %d %s", code, body)
		}
		code, body = c.Do(t, "GET", "/metrics", c.ViewerToken, nil)
		for _, want := range []string{`anchorwatch_stores{kind="nss",status="missing"} 1`, `anchorwatch_hosts{os="linux",status="noncompliant"} 1`,
			`anchorwatch_reports_total{kind="full",result="duplicate"} 1`, "anchorwatch_ingest_duration_seconds_bucket", "anchorwatch_compliance_ratio_by_os"} {
			if code != 200 || !strings.Contains(string(body), want) {
				t.Fatalf("metrics lack %q: %d\n%s", want, code, body)
			}
		}
		key2, _ := c.Enroll(t, facts("web-2"))
		if rr := c.Report(t, &api.ReportRequest{NodeKey: key2, ReportID: "p-1", Kind: api.ReportHeartbeat, PolicySerial: 1, StateHash: "x"}); !rr.NeedFull {
			t.Fatalf("heartbeat before any full report: %+v", rr)
		}
	})
}

// TestAuthMatrix: who may do what.
func TestAuthMatrix(t *testing.T) {
	// The matrix tries many wrong credentials from one address: a limiter
	// that never throttles (TestBruteForce in server/web covers it).
	lenient := server.Config{Limiter: throttle.New(throttle.Options{Free: 1 << 30})}
	forEachBackend(t, servertest.Options{Config: lenient}, func(t *testing.T, c *servertest.Collector) {
		keyA, idA := c.Enroll(t, facts("a"))
		_, idB := c.Enroll(t, facts("b"))
		reads := []string{api.PathSummary, api.PathHosts, api.PathHostsCSV, fmt.Sprintf("%s/%d", api.PathHosts, idA), api.PathEvents,
			api.PathCAs, api.PathRoots, api.PathTrend, api.PathWhoAmI, "/metrics", api.PathPolicy, "/"}
		for _, p := range reads {
			code, body := c.Do(t, "GET", p, "", nil)
			if code != http.StatusUnauthorized && !(p == "/" && code == http.StatusNotFound) {
				t.Errorf("GET %s without a token: %d %s", p, code, body)
			}
			if code, _ := c.Do(t, "GET", p, "awt_forged", nil); code != http.StatusUnauthorized && p != "/" {
				t.Errorf("GET %s with a forged token: %d", p, code)
			}
			// A node key never acts as a dashboard token (GET /policy takes
			// it as the agent's credential: TestPolicyUploadAndServe).
			if code, _ := c.Do(t, "GET", p, keyA, nil); code != http.StatusUnauthorized && p != "/" && p != api.PathPolicy {
				t.Errorf("GET %s with a node key as token: %d", p, code)
			}
			if code, _ := c.Do(t, "GET", p, c.EnrollSecret, nil); code != http.StatusUnauthorized && p != "/" {
				t.Errorf("GET %s with an enroll secret as token: %d", p, code)
			}
		}
		for _, p := range reads[:10] {
			if code, body := c.Do(t, "GET", p, c.ViewerToken, nil); code != 200 {
				t.Errorf("GET %s as viewer: %d %s", p, code, body)
			}
		}
		writes := []struct {
			method, path string
			body         any
		}{
			{"POST", api.PathSecrets, api.CredentialCreate{Name: "x"}},
			{"DELETE", api.PathSecrets + "/default", nil},
			{"POST", api.PathTokens, api.CredentialCreate{Name: "y", Role: "admin"}},
			{"DELETE", api.PathTokens + "/admin", nil},
			{"GET", api.PathTokens, nil},
			{"PUT", api.PathPolicy, []byte("x")},
		}
		for _, w := range writes {
			if code, body := c.Do(t, w.method, w.path, c.ViewerToken, w.body); code != http.StatusForbidden {
				t.Errorf("%s %s as viewer: %d %s", w.method, w.path, code, body)
			}
			if code, _ := c.Do(t, w.method, w.path, "", w.body); code != http.StatusUnauthorized {
				t.Errorf("%s %s without a token: %d", w.method, w.path, code)
			}
		}
		// Agent endpoints: no or a wrong credential is 401 with the code the agent acts on.
		code, body := c.Do(t, "POST", api.PathReport, "", report("", "r", stores.StatusCompliant))
		if code != 401 || errCode(t, body) != api.ErrNodeInvalid {
			t.Errorf("report without node key: %d %s", code, body)
		}
		code, body = c.Do(t, "POST", api.PathReport, "", report("awn_nope", "r", stores.StatusCompliant))
		if code != 401 || errCode(t, body) != api.ErrNodeInvalid {
			t.Errorf("report with unknown node key: %d %s", code, body)
		}
		code, body = c.Do(t, "POST", api.PathEnroll, "", api.EnrollRequest{EnrollSecret: "aws_wrong", Host: facts("z")})
		if code != 401 || errCode(t, body) != api.ErrSecretInvalid {
			t.Errorf("enroll with wrong secret: %d %s", code, body)
		}
		// A dashboard token is not a node key, nor an enroll secret.
		code, _ = c.Do(t, "POST", api.PathReport, "", report(c.AdminToken, "r", stores.StatusCompliant))
		if code != 401 {
			t.Errorf("report with an admin token as node key: %d", code)
		}
		code, body = c.Do(t, "POST", api.PathPolicy, "", map[string]string{"node_key": c.AdminToken})
		if code != 401 || errCode(t, body) != api.ErrNodeInvalid {
			t.Errorf("policy POST with an admin token as node key: %d %s", code, body)
		}
		code, body = c.Do(t, "POST", api.PathEnroll, "", api.EnrollRequest{EnrollSecret: c.AdminToken, Host: facts("z")})
		if code != 401 || errCode(t, body) != api.ErrSecretInvalid {
			t.Errorf("enroll with an admin token as secret: %d %s", code, body)
		}
		code, body = c.Do(t, "POST", api.PathEnroll, "", api.EnrollRequest{EnrollSecret: keyA, Host: facts("z")})
		if code != 401 || errCode(t, body) != api.ErrSecretInvalid {
			t.Errorf("enroll with a node key as secret: %d %s", code, body)
		}
		// A node key writes only its own host.
		c.Report(t, report(keyA, "r-a", stores.StatusMissing))
		_, body = c.Do(t, "GET", fmt.Sprintf("%s/%d", api.PathHosts, idB), c.AdminToken, nil)
		if hb := decode[api.HostDetail](t, body); hb.Status != api.HostStatusPending || len(hb.Stores) != 0 {
			t.Errorf("host B changed by host A's report: %+v", hb)
		}
		// Revocation is immediate: token, secret, node key (by re-enrollment).
		code, body = c.Do(t, "POST", api.PathTokens, c.AdminToken, api.CredentialCreate{Name: "temp", Role: "viewer"})
		if code != 201 {
			t.Fatalf("add token: %d %s", code, body)
		}
		temp := decode[api.CredentialCreated](t, body).Value
		if code, _ := c.Do(t, "GET", api.PathSummary, temp, nil); code != 200 {
			t.Fatalf("new token: %d", code)
		}
		if code, body := c.Do(t, "DELETE", api.PathTokens+"/temp", c.AdminToken, nil); code != 204 {
			t.Fatalf("revoke token: %d %s", code, body)
		}
		if code, _ := c.Do(t, "GET", api.PathSummary, temp, nil); code != 401 {
			t.Errorf("revoked token still works: %d", code)
		}
		if code, _ := c.Do(t, "DELETE", api.PathSecrets+"/default", c.AdminToken, nil); code != 204 {
			t.Fatalf("revoke secret: %d", code)
		}
		code, body = c.Do(t, "POST", api.PathEnroll, "", api.EnrollRequest{EnrollSecret: c.EnrollSecret, Host: facts("late")})
		if code != 401 || errCode(t, body) != api.ErrSecretInvalid {
			t.Errorf("revoked secret still enrolls: %d %s", code, body)
		}
		// Hosts enrolled before keep reporting.
		c.Report(t, report(keyA, "r-a2", stores.StatusCompliant))
		// Re-enrolling machine A (new secret), proving it with its node
		// key, invalidates that key (enroll_test.go: host keys, impostors).
		code, body = c.Do(t, "POST", api.PathSecrets, c.AdminToken, api.CredentialCreate{Name: "second"})
		if code != 201 {
			t.Fatalf("add secret: %d %s", code, body)
		}
		sec := decode[api.CredentialCreated](t, body).Value
		code, body = c.Do(t, "POST", api.PathEnroll, "", api.EnrollRequest{EnrollSecret: sec, Host: facts("a"), NodeKey: keyA})
		if code != 200 || decode[api.EnrollResponse](t, body).HostID != idA {
			t.Fatalf("re-enroll: %d %s", code, body)
		}
		code, body = c.Do(t, "POST", api.PathReport, "", report(keyA, "r-a3", stores.StatusCompliant))
		if code != 401 || errCode(t, body) != api.ErrNodeInvalid {
			t.Errorf("old node key after re-enrollment: %d %s", code, body)
		}
	})
}

// TestHostileInput: oversize, malformed, unknown fields, absurd counts,
// invalid UTF-8 → 413/400 with a reason, never 500.
func TestHostileInput(t *testing.T) {
	forEachBackend(t, servertest.Options{}, func(t *testing.T, c *servertest.Collector) {
		key, _ := c.Enroll(t, facts("h"))
		valid := func() map[string]any {
			return map[string]any{"node_key": key, "report_id": "r1", "kind": "full", "policy_serial": 1, "state_hash": "x",
				"stores": []any{map[string]any{"id": "s1", "kind": "nss", "path": "/p", "status": "compliant"}}}
		}
		with := func(k string, v any) map[string]any { m := valid(); m[k] = v; return m }
		manyStores := make([]any, api.MaxStores+1)
		for i := range manyStores {
			manyStores[i] = map[string]any{"id": fmt.Sprint(i), "kind": "k", "status": "compliant"}
		}
		cases := []struct {
			name string
			body any
			code int
			why  string
		}{
			{"empty", "", 400, "empty body"},
			{"not JSON", "{{{", 400, "malformed JSON"},
			{"array", "[]", 400, "malformed JSON"},
			{"trailing data", `{"report_id":"x","kind":"full"} {}`, 400, "after the object"},
			{"unknown field", with("admin", true), 400, "unknown field"},
			{"wrong type", with("policy_serial", "one"), 400, "malformed JSON"},
			{"huge number", `{"policy_serial": 1e400}`, 400, "malformed JSON"},
			{"invalid UTF-8", []byte("{\"report_id\":\"\xff\xfe\",\"kind\":\"full\"}"), 400, "UTF-8"},
			{"NUL in string", with("state_hash", "a\x00b"), 400, "NUL"},
			{"no report id", with("report_id", ""), 400, "report_id"},
			{"bad kind", with("kind", "everything"), 400, "kind"},
			{"too many stores", with("stores", manyStores), 400, "more than"},
			{"bad store status", with("stores", []any{map[string]any{"id": "s", "kind": "k", "status": "fine"}}), 400, "status"},
			{"duplicate store", with("stores", []any{map[string]any{"id": "s", "kind": "k", "status": "compliant"}, map[string]any{"id": "s", "kind": "k", "status": "compliant"}}), 400, "duplicate"},
			{"long string", with("state_hash", strings.Repeat("a", api.MaxStringLen+1)), 400, "longer than"},
			{"bad event", with("events", []any{map[string]any{"id": "", "type": api.EventRemoved}}), 400, "events[0]"},
			{"bad ip", with("host", map[string]any{"hostname": "h", "ips": []string{"999.1.1.1"}}), 400, "IP"},
			{"heartbeat with stores", with("kind", "heartbeat"), 400, "heartbeat"},
			{"negative serial", with("policy_serial", -1), 400, "negative"},
			{"over the size limit", bytes.Repeat([]byte(" "), api.MaxBodyBytes+1), 413, "over"},
		}
		for _, tc := range cases {
			code, body := c.Do(t, "POST", api.PathReport, "", tc.body)
			if code != tc.code {
				t.Errorf("%s: %d, want %d: %s", tc.name, code, tc.code, body)
				continue
			}
			er := decode[api.ErrorResponse](t, body)
			if !strings.Contains(er.Detail, tc.why) {
				t.Errorf("%s: reason %q does not say %q", tc.name, er.Detail, tc.why)
			}
		}
		// Enrollment and dashboard queries too.
		for _, tc := range []struct {
			method, path, token string
			body                any
			code                int
		}{
			{"POST", api.PathEnroll, "", `{"enroll_secret":"x","host":{"hostname":"h","macs":["zz"]}}`, 400},
			{"POST", api.PathEnroll, "", `{"enroll_secret":"x","host":{}}`, 400},
			{"POST", api.PathEnroll, "", `{"enroll_secret":"x","hostx":{}}`, 400},
			{"POST", api.PathEnroll, "", bytes.Repeat([]byte("a"), api.MaxBodyBytes+10), 413},
			{"GET", api.PathHosts + "?status=bogus", c.ViewerToken, nil, 400},
			{"GET", api.PathHosts + "?cursor=-5", c.ViewerToken, nil, 400},
			{"GET", api.PathHosts + "?limit=100000", c.ViewerToken, nil, 400},
			{"GET", api.PathHosts + "?colour=red", c.ViewerToken, nil, 400},
			{"GET", api.PathHosts + "?seen_after=yesterday", c.ViewerToken, nil, 400},
			{"GET", api.PathHosts + "/abc", c.ViewerToken, nil, 400},
			{"GET", api.PathHosts + "/999999", c.ViewerToken, nil, 404},
			{"GET", api.PathEvents + "?cursor=x", c.ViewerToken, nil, 400},
			{"GET", api.PathSummary + "?offline_after=-1h", c.ViewerToken, nil, 400},
			{"PUT", api.PathPolicy, c.AdminToken, []byte("not pkcs7"), 400},
			{"POST", api.PathTokens, c.AdminToken, `{"name":"../etc","role":"admin"}`, 400},
			{"POST", api.PathTokens, c.AdminToken, `{"name":"ok","role":"root"}`, 400},
		} {
			code, body := c.Do(t, tc.method, tc.path, tc.token, tc.body)
			if code != tc.code {
				t.Errorf("%s %s: %d, want %d: %s", tc.method, tc.path, code, tc.code, body)
			}
			if code >= 400 && decode[api.ErrorResponse](t, body).Detail == "" {
				t.Errorf("%s %s: no reason given", tc.method, tc.path)
			}
		}
	})
}

// signPolicy makes a PKCS#7 SignedData blob over a policy JSON document.
func signPolicy(t *testing.T, serial int64) []byte {
	t.Helper()
	return signPolicyDoc(t, fmt.Sprintf(`{"serial": %d, "anchors": []}`, serial))
}

// signPolicyDoc signs doc as it is, with a throwaway signer: the collector
// never decides trust in the signer.
func signPolicyDoc(t *testing.T, doc string) []byte {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "policy signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	sd, err := pkcs7.NewSignedData([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.AddSigner(cert, key, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	out, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPolicyUploadAndServe(t *testing.T) {
	forEachBackend(t, servertest.Options{}, func(t *testing.T, c *servertest.Collector) {
		key, _ := c.Enroll(t, facts("p"))
		get := func(hdr map[string]string) (int, []byte, http.Header) {
			req, _ := http.NewRequest("GET", c.URL+api.PathPolicy, nil)
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			resp, err := c.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b, resp.Header
		}
		if code, _, _ := get(map[string]string{server.NodeKeyHeader: key}); code != 404 {
			t.Fatalf("no policy yet: %d", code)
		}
		blob := signPolicy(t, 7)
		if code, body := c.Do(t, "PUT", api.PathPolicy, c.AdminToken, blob); code != 200 {
			t.Fatalf("upload: %d %s", code, body)
		}
		if code, body := c.Do(t, "PUT", api.PathPolicy, c.AdminToken, signPolicy(t, 7)); code != 409 {
			t.Fatalf("same serial again: %d %s", code, body)
		}
		tampered := bytes.Clone(blob)
		i := bytes.Index(tampered, []byte(`"serial": 7`))
		tampered[i+10] = '9'
		if code, body := c.Do(t, "PUT", api.PathPolicy, c.AdminToken, tampered); code != 400 || !strings.Contains(string(body), "does not verify") {
			t.Fatalf("tampered blob: %d %s", code, body)
		}
		code, body, hdr := get(map[string]string{server.NodeKeyHeader: key})
		if code != 200 || !bytes.Equal(body, blob) || hdr.Get("X-Anchorwatch-Policy-Serial") != "7" {
			t.Fatalf("served policy differs: %d serial=%s", code, hdr.Get("X-Anchorwatch-Policy-Serial"))
		}
		if code, _, _ := get(map[string]string{server.NodeKeyHeader: key, "If-None-Match": hdr.Get("ETag")}); code != 304 {
			t.Fatalf("conditional GET: %d", code)
		}
		if code, _, _ := get(map[string]string{server.NodeKeyHeader: "awn_bad"}); code != 401 {
			t.Fatalf("bad node key: %d", code)
		}
		// The agent's form: Authorization: Bearer <node key>.
		if code, body, _ := get(map[string]string{"Authorization": "Bearer " + key}); code != 200 || !bytes.Equal(body, blob) {
			t.Fatalf("node key as bearer: %d", code)
		}
		for name, hdr := range map[string]map[string]string{
			"unknown node key as bearer": {"Authorization": "Bearer awn_bad"},
			"admin token as node key":    {server.NodeKeyHeader: c.AdminToken},
			"enroll secret as bearer":    {"Authorization": "Bearer " + c.EnrollSecret},
		} {
			if code, body, _ := get(hdr); code != 401 {
				t.Errorf("%s: %d %s", name, code, body)
			}
		}
		// Dashboard tokens still read the policy.
		if code, body, _ := get(map[string]string{"Authorization": "Bearer " + c.ViewerToken}); code != 200 || !bytes.Equal(body, blob) {
			t.Fatalf("viewer token: %d", code)
		}
		code, body = c.Do(t, "POST", api.PathPolicy, "", map[string]string{"node_key": key})
		if code != 200 || !bytes.Equal(body, blob) {
			t.Fatalf("POST form: %d", code)
		}
		if rr := c.Report(t, report(key, "after-policy", stores.StatusCompliant)); rr.PolicySerial != 7 {
			t.Fatalf("report ack serial %d, want 7", rr.PolicySerial)
		}
	})
}

func TestUIHook(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "dashboard") })
	c := servertest.StartCollector(t, servertest.Options{InsecureHTTP: true, Config: server.Config{UI: ui}})
	if code, body := c.Do(t, "GET", "/", "", nil); code != 200 || string(body) != "dashboard" {
		t.Fatalf("UI: %d %s", code, body)
	}
	if code, _ := c.Do(t, "GET", api.PathSummary, "", nil); code != 401 {
		t.Fatalf("API behind UI: %d", code)
	}
	if code, _ := c.Do(t, "GET", "/api/v1/nope", c.ViewerToken, nil); code != 404 {
		t.Fatalf("unknown API path: %d", code)
	}
}

func TestSelfSignedCertificate(t *testing.T) {
	dir := t.TempDir()
	cert, key, created, err := server.EnsureSelfSigned(dir, []string{"collector.example"})
	if err != nil || !created {
		t.Fatal(created, err)
	}
	fp1, err := server.CertFingerprint(cert)
	if err != nil || len(fp1) != 95 {
		t.Fatalf("fingerprint %q %v", fp1, err)
	}
	_, _, created, err = server.EnsureSelfSigned(dir, nil)
	if err != nil || created {
		t.Fatal("second call created a new certificate", err)
	}
	fp2, _ := server.CertFingerprint(cert)
	if fp1 != fp2 {
		t.Fatal("fingerprint changed")
	}
	if _, err := server.TLSConfig(cert, key); err != nil {
		t.Fatal(err)
	}
}
