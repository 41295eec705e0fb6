package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/pki"
	"github.com/anchorwatch/anchorwatch/pki/pkitest"
	"github.com/anchorwatch/anchorwatch/server"
	"github.com/anchorwatch/anchorwatch/server/servertest"
	"github.com/anchorwatch/anchorwatch/server/throttle"
	"github.com/anchorwatch/anchorwatch/server/web"
)

// TestPKIPageChromium: the PKI health page, loaded in headless Chromium
// from a collector that checked a PKI made with openssl (one CA healthy,
// one whose responder is down) and holds agents' reachability reports,
// shows what the API says: each CA's status, days left, CRL and OCSP,
// and the subnets that cannot reach each endpoint.
func TestPKIPageChromium(t *testing.T) {
	p := pkitest.New(t)
	p.StartResponder(t, p.Root)
	down := pkitest.FreePort(t)
	broken := p.Issue(t, p.Root, "broken", "/CN=Inspection CA with its responder down", p.InterExt("", fmt.Sprintf("http://127.0.0.1:%d", down)))
	sessions := &lazySessions{}
	lim := throttle.New(throttle.Options{})
	c := servertest.StartCollector(t, servertest.Options{Config: server.Config{UI: web.Handler(web.Options{Sessions: sessions, Limiter: lim}), Limiter: lim, PKIProbeInterval: 300 * time.Millisecond}})
	sessions.st.Store(c.Store)
	if code, body := c.Do(t, "PUT", api.PathPolicy, c.AdminToken, pkitest.SignPolicy(t, 7, p.Root.Cert, p.Inter.Cert, broken.Cert)); code != http.StatusOK {
		t.Fatalf("upload: %d %s", code, body)
	}
	var checks api.PKICheckList
	deadline := time.Now().Add(30 * time.Second)
	for len(checks.Checks) < 3 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		getJSON(t, c, api.PathPKI, &checks)
	}
	if len(checks.Checks) != 3 {
		t.Fatalf("the collector checked %d CAs, want 3", len(checks.Checks))
	}
	// Reachability from three subnets; one cannot reach the CRL.
	crlURL := p.URL("root.crl")
	for i, ip := range []string{"10.20.1.5", "10.20.1.6", "10.20.9.7", "2001:db8:5::9"} {
		key, _ := c.Enroll(t, api.HostFacts{Hostname: fmt.Sprintf("ws-%d", i), MachineID: fmt.Sprintf("m%d", i), OS: "linux", IPs: []string{ip}})
		ok := !strings.HasPrefix(ip, "10.20.9.")
		detail := "CRL of 300 bytes"
		if !ok {
			detail = "timeout"
		}
		rep := api.ReachReport{NodeKey: key, Results: []pki.Reach{{Kind: pki.KindCRL, URL: crlURL, CA: checks.Checks[0].CA.SHA256, OK: ok, Detail: detail, CheckedAt: time.Now()}}}
		if code, body := c.Do(t, "POST", api.PathReach, "", rep); code != http.StatusOK {
			t.Fatalf("reach: %d %s", code, body)
		}
	}
	var reach api.ReachList
	getJSON(t, c, api.PathPKIReach, &reach)

	b := startBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := b.newPage(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pg.navigate(ctx, c.URL+"/pki", "/login", "login"); err != nil {
		t.Fatal(err)
	}
	if err := submitLogin(ctx, pg, c.ViewerToken); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.waitState(ctx, "/pki", "ready"); err != nil {
		t.Fatal(err)
	}
	s := &session{t: t, c: c, p: pg, dir: artifactsDir(t), ctx: ctx}
	got := s.load("/pki", "pki-health")
	failingCAs := 0
	for _, ch := range checks.Checks {
		k := "pki:" + ch.CA.SHA256
		status := "ok"
		if w := ch.Worst(); w.Fails() {
			status = string(w)
			failingCAs++
		}
		got.want(t, "pki", k+":status", status)
		got.want(t, "pki", k+":days", fmt.Sprint(ch.CA.DaysLeft))
		var ocsp []string
		for _, o := range ch.OCSP {
			ocsp = append(ocsp, o.Status+" "+o.URL)
		}
		got.want(t, "pki", k+":ocsp", strings.Join(ocsp, ""))
	}
	if failingCAs != 1 {
		t.Errorf("%d CAs fail, want the one whose responder is down", failingCAs)
	}
	got.want(t, "pki", "pki-kpi-cas", "3")
	got.want(t, "pki", "pki-kpi-failing", "1")
	got.want(t, "pki", "pki-kpi-unreachable", "1")
	for _, e := range reach.Endpoints {
		k := "reach:" + e.Kind + ":" + e.URL
		got.want(t, "pki", k+":hosts", fmtInt(e.Hosts))
		got.want(t, "pki", k+":failing", fmtInt(e.Failing))
		for _, n := range e.Subnets {
			got.want(t, "pki", k+":subnet:"+n.Subnet, fmt.Sprintf("%s %d of %d hosts: %s", n.Subnet, n.Failing, n.Hosts, n.Detail))
		}
	}
	got.want(t, "pki", "reach:crl:"+crlURL+":subnet:10.20.9.0/24", "10.20.9.0/24 1 of 1 hosts: timeout")
}
