//go:build linux

package agent

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/java"
)

// haproxy is Debian's HAProxy in front of a real collector, as a load
// balancer terminating TLS with a certificate of its own (issued by ca,
// which the agent pins). Through its runtime API the test makes it answer
// every request from 127.0.0.1 with an HTML 404 page or a 403 — a
// rollout, a maintenance page, a firewall rule — and back again.
type haproxy struct {
	t      testing.TB
	url    string
	caFile string
	sock   string
	acls   map[string]string // name -> ACL file
}

func startHAProxy(t testing.TB, backend string) *haproxy {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatal("haproxy (Debian package haproxy) is needed: ", err)
	}
	dir := t.TempDir()
	ca := testpki.NewCA(t, "Load Balancer CA")
	leaf := ca.Leaf(t, "127.0.0.1")
	key, err := x509.MarshalPKCS8PrivateKey(leaf.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	pemFile := filepath.Join(dir, "lb.pem")
	data := append(testpki.PEM(leaf.Leaf), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})...)
	if err := os.WriteFile(pemFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	h := &haproxy{t: t, caFile: testpki.WritePEM(t, filepath.Join(dir, "ca.pem"), ca.Cert), sock: filepath.Join(dir, "admin.sock"),
		acls: map[string]string{"down": filepath.Join(dir, "down.acl"), "forbid": filepath.Join(dir, "forbid.acl")}}
	for _, f := range h.acls {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	u, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := fmt.Sprintf(`global
    stats socket %s mode 600 level admin
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend lb
    bind 127.0.0.1:%d ssl crt %s
    acl down src -f %s
    acl forbid src -f %s
    http-request return status 404 content-type "text/html" string "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>" if down
    http-request deny deny_status 403 if forbid
    default_backend collector
backend collector
    server c1 %s ssl verify none
`, h.sock, port, pemFile, h.acls["down"], h.acls["forbid"], u.Host)
	cfgFile := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", cfgFile)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	h.url = fmt.Sprintf("https://127.0.0.1:%d", port)
	waitFor(t, "haproxy listening", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return h
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// admin runs one command on HAProxy's runtime API.
func (h *haproxy) admin(cmd string) string {
	h.t.Helper()
	c, err := net.Dial("unix", h.sock)
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintln(c, cmd)
	var b strings.Builder
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String()
}

// set turns an answer ("down": HTML 404, "forbid": 403) on or off for
// every request from 127.0.0.1.
func (h *haproxy) set(name string, on bool) {
	h.t.Helper()
	if on {
		h.admin("add acl " + h.acls[name] + " 127.0.0.1")
	} else {
		h.admin("clear acl " + h.acls[name])
	}
}

// removeJava removes our CA from the sandbox's JKS as another program
// would (a real keystore write).
func removeJava(t testing.TB, sb sandbox, fp string) {
	t.Helper()
	s, err := java.Open(stores.Env{Root: sb.root}, "/etc/ssl/certs/java/cacerts")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove(context.Background(), []string{fp}, stores.Options{Watched: true}); err != nil {
		t.Fatal(err)
	}
}

// TestProxyErrorsKeepReports puts HAProxy in front of the real collector
// and makes it answer the agent with an HTML 404 page, then with 403,
// while our CA is removed and healed 20 times: every report stays spooled
// (none dropped, `agent status` says why delivery fails), and once the
// proxy passes requests again the collector holds all 20 removed/healed
// pairs, each once.
func TestProxyErrorsKeepReports(t *testing.T) {
	sb := newSandbox(t)
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	ca := testpki.NewCA(t, "Corp Interception CA").Cert
	coll := startCollector(t)
	coll.upload(signedPolicy(t, 1, signer, key, nil, ca))
	lb := startHAProxy(t, coll.URL)
	h := startAgentWith(t, sb, coll, signer, agentOpts{url: lb.url, extra: map[string]any{"collector_ca_file": lb.caFile, "collector_fingerprint": ""}},
		stores.KindJava)
	fp := stores.SHA256(ca)
	waitFor(t, "install reported through the load balancer", func() bool {
		return countEvents(coll.events(), api.EventInstalled, "java:", fp) == 1
	})

	heals := 0
	phases := []struct {
		acl, want string
	}{
		{"down", "HTTP 404 from something in front of the collector"},
		{"forbid", "HTTP 403 from something in front of the collector"},
	}
	for i, phase := range phases {
		lb.set(phase.acl, true)
		if i > 0 {
			// The 404s turn into 403s with no gap in between: the same
			// spool meets the next answer.
			lb.set(phases[i-1].acl, false)
		}
		for j := 0; j < 10; j++ {
			removeJava(t, sb, fp)
			heals++
			waitFor(t, fmt.Sprintf("heal %d", heals), func() bool { return countEvents(h.rec.all(), api.EventHealed, "java:", fp) == heals })
		}
		h.poke() // send now, into the proxy's answer
		waitFor(t, "status shows the proxy's answer", func() bool {
			st, err := ReadStatus(h.stateDir)
			return err == nil && strings.Contains(st.LastError, phase.want) && st.SpoolPending > 0
		})
		st, _ := ReadStatus(h.stateDir)
		if st.ReportsDropped != 0 || st.EventsDropped != 0 {
			t.Fatalf("the agent dropped reports on a proxy's %s: %+v", phase.acl, st)
		}
		if n := countEvents(coll.events(), api.EventRemoved, "", ""); n != 0 {
			t.Fatalf("the collector got %d removed events through a proxy answering %s", n, phase.acl)
		}
	}
	lb.set(phases[len(phases)-1].acl, false)
	h.poke()
	waitFor(t, "every event delivered", func() bool {
		evs := coll.events()
		return countEvents(evs, api.EventRemoved, "java:", fp) == 20 && countEvents(evs, api.EventHealed, "java:", fp) == 20
	})
	evs := coll.events()
	storedOnce(t, h.rec.all(), evs)
	waitFor(t, "spool drained", func() bool {
		st, err := ReadStatus(h.stateDir)
		return err == nil && st.SpoolPending == 0 && st.EventsPending == 0
	})
	st, _ := ReadStatus(h.stateDir)
	if st.ReportsDropped != 0 || st.EventsDropped != 0 || countEvents(evs, api.EventReportDropped, "", "") != 0 {
		t.Fatalf("drops: %+v", st)
	}
}

// TestCollectorRefusalDrops: a spooled report the collector itself refuses
// as invalid (its JSON 400 bad_request) is dropped — only that one — and
// the drop is counted in `agent status` and reaches the collector as a
// report-dropped event naming the report and its events.
func TestCollectorRefusalDrops(t *testing.T) {
	sb := newSandbox(t)
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	ca := testpki.NewCA(t, "Corp Interception CA").Cert
	coll := startCollector(t)
	coll.upload(signedPolicy(t, 1, signer, key, nil, ca))
	bad := api.ReportRequest{ReportID: "bad-report", Kind: "bogus", GeneratedAt: time.Now().UTC(),
		Events: []api.Event{{ID: "lost-1", Type: api.EventRemoved}, {ID: "lost-2", Type: api.EventHealed}}}
	h := startAgentWith(t, sb, coll, signer, agentOpts{seed: func(dir string) {
		data, _ := json.Marshal(spoolEntry{Report: bad})
		spool := filepath.Join(dir, dirSpool)
		if err := os.MkdirAll(spool, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(spool, fmt.Sprintf("%020d.json", 0)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}}, stores.KindJava)
	fp := stores.SHA256(ca)
	waitFor(t, "install and the drop reported", func() bool {
		evs := coll.events()
		return countEvents(evs, api.EventInstalled, "java:", fp) == 1 && countEvents(evs, api.EventReportDropped, "", "") == 1
	})
	for _, e := range coll.events() {
		if e.Type == api.EventReportDropped && (!strings.Contains(e.Detail, "bad-report") || !strings.Contains(e.Detail, "2 events") ||
			!strings.Contains(e.Detail, "400 bad_request")) {
			t.Errorf("report-dropped detail: %q", e.Detail)
		}
	}
	st, err := ReadStatus(h.stateDir)
	if err != nil || st.ReportsDropped != 1 || st.EventsDropped != 2 || !strings.Contains(st.LastDrop, "bad-report") {
		t.Fatalf("status: %+v %v", st, err)
	}
	storedOnce(t, h.rec.all(), coll.events())
}
