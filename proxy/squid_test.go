//go:build unix

package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/proxy/proxytest"
	"github.com/anchorwatch/anchorwatch/server/evidence/squidtest"
)

func loopbackListen(t *testing.T) string { return proxytest.LoopbackListen(t) }

// gradingSquid is a real Squid trusting the grading roots upstream.
type gradingSquid = proxytest.Squid

func startGradingSquid(t *testing.T, pki *PKI, o squidtest.Options) gradingSquid {
	t.Helper()
	return proxytest.StartSquid(t, pki.RootsPEM(), o)
}

func gradeSquid(t *testing.T, sq gradingSquid, pki *PKI, listen string) *Report {
	t.Helper()
	ica, err := parseOneCert(sq.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://" + sq.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{Proxy: u, CA: ica, PKI: pki, Listen: listen, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("grading %s: %v\n%s", sq.Addr, err, reportText(rep))
	}
	return rep
}

func reportText(r *Report) string {
	if r == nil {
		return "(no report)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "grade %s failing %v\n", r.Grade, r.Failing)
	for _, res := range r.Results {
		fmt.Fprintf(&b, "  %-26s %-22s pass=%-5v %s | upstream: %s\n", res.ID, res.Outcome, res.Pass, res.Detail, res.Upstream)
	}
	if r.Upstream != nil {
		fmt.Fprintf(&b, "  upstream hello: %s %v\n", r.Upstream.Grade, r.Upstream.Reasons)
	}
	return b.String()
}

// TestGradeSquid grades two real ssl-bump Squids: Debian's defaults
// (upstream verification on) and a weakened one (sslproxy_cert_error
// allow all, flags=DONT_VERIFY_PEER, old protocols and every cipher). The
// first must grade better than the second, and each failing check must be
// named with the outcome the client really saw.
func TestGradeSquid(t *testing.T) {
	pki, err := NewPKI(DefaultDomain, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	listen := loopbackListen(t)

	strict := startGradingSquid(t, pki, squidtest.Options{})
	good := gradeSquid(t, strict, pki, listen)
	t.Logf("Debian defaults:\n%s", reportText(good))

	weak := startGradingSquid(t, pki, squidtest.Options{
		OutgoingOptions: "flags=DONT_VERIFY_PEER min-version=1.0 cipher=ALL:@SECLEVEL=0",
		Extra:           []string{"sslproxy_cert_error allow all"},
	})
	bad := gradeSquid(t, weak, pki, listen)
	t.Logf("weakened:\n%s", reportText(bad))

	if good.Grade == 0 || bad.Grade == 0 || good.Grade >= bad.Grade {
		t.Errorf("Debian defaults graded %s, the weakened Squid %s: want the defaults better", good.Grade, bad.Grade)
	}
	if bad.Grade != GradeF {
		t.Errorf("weakened Squid graded %s, want F", bad.Grade)
	}
	outcome := func(r *Report, id string) Result {
		for _, res := range r.Results {
			if res.ID == id {
				return res
			}
		}
		t.Fatalf("no result for %s", id)
		return Result{}
	}
	// Certificate validation: the defaults refuse, the weakened one
	// re-signs what it cannot verify.
	for _, id := range []string{CheckExpired, CheckNotYetValid, CheckSelfSigned, CheckUntrusted, CheckWrongHost} {
		if r := outcome(good, id); !r.Pass || r.Outcome == Resigned {
			t.Errorf("Debian defaults, %s: %s (%s), want blocked or the error passed through", id, r.Outcome, r.Detail)
		}
	}
	for _, id := range []string{CheckSelfSigned, CheckUntrusted} {
		if r := outcome(bad, id); r.Pass || r.Outcome != Resigned || r.Grade != GradeF || !contains(bad.Failing, id) || r.Advice == "" {
			t.Errorf("weakened, %s: %+v, want re-signed as valid, failing with grade F and advice", id, r)
		}
	}
	// Squid checks no revocation at all: both re-sign the revoked origins.
	for _, id := range []string{CheckRevokedCRL, CheckRevokedOCSP} {
		for name, r := range map[string]*Report{"defaults": good, "weakened": bad} {
			if res := outcome(r, id); res.Outcome != Resigned || res.Pass || !contains(r.Failing, id) {
				t.Errorf("%s, %s: %s, want re-signed as valid and failing (Squid does not check revocation)", name, id, res.Outcome)
			}
		}
	}
	// What only the weakened one lets through: TLS 1.0 upstream.
	if r := outcome(bad, CheckTLS10); r.Outcome != Resigned || !strings.Contains(r.Upstream, "TLS 1.0") {
		t.Errorf("weakened, %s: %s (upstream %q), want re-signed after a TLS 1.0 handshake", CheckTLS10, r.Outcome, r.Upstream)
	}
	if r := outcome(good, CheckTLS10); r.Outcome == Resigned {
		t.Errorf("Debian defaults, %s: re-signed (upstream %q): OpenSSL 3 refuses TLS 1.0 at the default security level", CheckTLS10, r.Upstream)
	}
	for _, r := range []*Report{good, bad} {
		if res := outcome(r, CheckValid); res.Outcome != Resigned || !res.Pass {
			t.Errorf("baseline: %+v", res)
		}
		if res := outcome(r, CheckModernRoot); !res.Pass {
			t.Errorf("modern root: %+v", res)
		}
		if r.Upstream == nil || r.Upstream.ServerName != outcome(r, CheckValid).Host || len(r.Upstream.Ciphers) == 0 {
			t.Errorf("the ClientHello Squid sent upstream was not recorded: %+v", r.Upstream)
		}
	}
	// min-version=1.0: the weakened Squid offers TLS 1.0 upstream, and
	// what it offers grades no better than the defaults.
	if bad.Upstream.MinVersion != "TLS 1.0" || bad.Upstream.Grade < good.Upstream.Grade {
		t.Errorf("upstream hello: weakened offers down to %s, graded %s (defaults %s); want TLS 1.0 and no better",
			bad.Upstream.MinVersion, bad.Upstream.Grade, good.Upstream.Grade)
	}
}

// TestBypassSplicesInSquid: the do-not-decrypt list of a signed policy,
// exported in Squid's format and included in a real ssl-bump Squid,
// splices what it names: a client sees the origin's own certificate
// (curl trusting only the grading roots fetches the page; openssl
// s_client shows the grading CA as issuer), while other destinations, an
// expired entry and other clients of a client-scoped entry stay bumped.
func TestBypassSplicesInSquid(t *testing.T) {
	now := time.Now()
	pki, err := NewPKI(DefaultDomain, now)
	if err != nil {
		t.Fatal(err)
	}
	og, err := StartOrigins(context.Background(), pki, OriginsOptions{Listen: loopbackListen(t), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer og.Close()
	host := func(id string) string { return og.spec(id).host }
	until, past := now.Add(24*time.Hour), now.Add(-time.Hour)
	const pinnedClient = "127.0.0.6"
	doc := &policy.Document{Serial: 9, DoNotDecrypt: []policy.Bypass{
		{Destinations: []string{"*." + DefaultDomain}, Reason: "too wide: must not reach Squid", Expires: &past},
		{Destinations: []string{host(CheckValid)}, Reason: "online banking", Expires: &until},
		{Destinations: []string{host(CheckModernRoot)}, Clients: []string{pinnedClient}, Reason: "pinned app on one desk", Expires: &until},
	}}
	exp := NewExport(doc, now)
	if len(exp.Active) != 2 || exp.Expired != 1 {
		t.Fatalf("export: %+v", exp)
	}
	dir, err := os.MkdirTemp("", "anchorwatch-bypass-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755) // Squid reads it as the proxy user
	for _, f := range exp.Squid(dir) {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ip, _, _ := net.SplitHostPort(og.Addr)
	hosts := map[string]string{}
	for _, id := range []string{CheckValid, CheckModernRoot, CheckExpired} {
		hosts[host(id)] = ip
	}
	sq := startGradingSquid(t, pki, squidtest.Options{Hosts: hosts,
		BeforeBump: []string{"acl step1 at_step SslBump1", "ssl_bump peek step1", "include " + filepath.Join(dir, BypassPrefix+".conf")},
		Bump:       []string{"bump all"}})
	roots := filepath.Join(dir, "grading-roots.pem")
	os.WriteFile(roots, pki.RootsPEM(), 0o644)
	fetch := func(source, id string) (string, error) {
		return squidtest.Curl(t, sq.Addr, source, roots, "https://"+host(id)+MarkerPath)
	}
	issuer := func(source, id string) string {
		cmd := exec.Command("openssl", "s_client", "-bind", source, "-proxy", sq.Addr, "-connect", host(id)+":443", "-servername", host(id))
		cmd.Stdin = strings.NewReader("")
		out, _ := cmd.CombinedOutput()
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "issuer=") {
				return strings.TrimSpace(l)
			}
		}
		return "(none)\n" + string(out)
	}
	if body, err := fetch("127.0.0.1", CheckValid); err != nil || !strings.Contains(body, og.Marker(CheckValid)) {
		t.Errorf("bypassed destination through Squid, trusting only the grading roots: %v %q", err, body)
	}
	if iss := issuer("127.0.0.1", CheckValid); !strings.Contains(iss, "Anchorwatch grading CA") {
		t.Errorf("bypassed destination: the client sees %s, want the origin's issuer", iss)
	}
	if _, err := fetch("127.0.0.1", CheckModernRoot); err == nil {
		t.Error("client-scoped bypass: another client was not intercepted")
	}
	if iss := issuer("127.0.0.1", CheckModernRoot); !strings.Contains(iss, "Anchorwatch test interception CA") {
		t.Errorf("client-scoped bypass, other client: sees %s, want the interception CA", iss)
	}
	if body, err := fetch(pinnedClient, CheckModernRoot); err != nil || !strings.Contains(body, og.Marker(CheckModernRoot)) {
		t.Errorf("client-scoped bypass, the named client: %v %q", err, body)
	}
	if iss := issuer("127.0.0.1", CheckExpired); !strings.Contains(iss, "Anchorwatch test interception CA") {
		t.Errorf("the expired wildcard entry reached Squid: %s sees %s", host(CheckExpired), iss)
	}
}

var updateFindings = flag.Bool("update", false, "rewrite testdata/squid-findings-access.log from the real Squid run")

// TestFindingsFromSquid: the access.log of a real Squid (anchorwatch
// logformat) after grading traffic, a site that requires a client
// certificate, a client that completes the handshake and sends nothing
// (openssl s_client) and a CA-trusting client that refuses one site's
// certificate (curl pinning another key): the scan names the upstream
// validation failures (and the missing root, given the reference store
// that holds it), the client-certificate site and the pinned one.
func TestFindingsFromSquid(t *testing.T) {
	now := time.Now()
	pki, err := NewPKI(DefaultDomain, now)
	if err != nil {
		t.Fatal(err)
	}
	listen := loopbackListen(t)
	og, err := StartOrigins(context.Background(), pki, OriginsOptions{Listen: listen, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer og.Close()
	certHost := "clientcert." + DefaultDomain
	certAddr := clientCertOrigin(t, pki, certHost)
	ip, _, _ := net.SplitHostPort(listen)
	certIP, _, _ := net.SplitHostPort(certAddr)
	hosts := map[string]string{certHost: certIP}
	for _, c := range Checks() {
		hosts[og.spec(c.ID).host] = ip
	}
	sq := startGradingSquid(t, pki, squidtest.Options{Hosts: hosts})
	dir := t.TempDir()
	ica := filepath.Join(dir, "ica.pem")
	os.WriteFile(ica, sq.CAPEM, 0o644)
	url := func(h string) string { return "https://" + h + MarkerPath }
	// Upstream failures: each bad origin once, by name.
	for _, id := range []string{CheckExpired, CheckSelfSigned, CheckUntrusted, CheckWrongHost, CheckValid} {
		squidtest.Curl(t, sq.Addr, "127.0.0.1", ica, url(og.spec(id).host))
	}
	if body, _ := squidtest.Curl(t, sq.Addr, "127.0.0.1", ica, url(certHost)); !strings.Contains(body, "ERR_SECURE_CONNECT_FAIL") {
		t.Errorf("the client-certificate site through the bump: want Squid's error page, got %.200q", body)
	}
	// A client that completes the handshake and sends nothing.
	silent := exec.Command("openssl", "s_client", "-bind", "127.0.0.8", "-proxy", sq.Addr, "-connect", og.spec(CheckModernRoot).host+":443",
		"-servername", og.spec(CheckModernRoot).host, "-CAfile", ica)
	silent.Stdin = strings.NewReader("")
	if out, err := silent.CombinedOutput(); !strings.Contains(string(out), "Verify return code: 0") {
		t.Fatalf("openssl s_client through Squid: %v\n%s", err, out)
	}
	// A client trusting the CA that refuses one site (curl pins another key).
	const pinning = "127.0.0.9"
	if _, err := squidtest.Curl(t, sq.Addr, pinning, ica, url(og.spec(CheckValid).host)); err != nil {
		t.Fatalf("pinning client, unpinned site: %v", err)
	}
	pin := exec.Command("curl", "-sS", "--max-time", "20", "--interface", pinning, "--proxy", "http://"+sq.Addr, "--cacert", ica,
		"--pinnedpubkey", "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", url(og.spec(CheckRSAKex).host))
	if out, err := pin.CombinedOutput(); err == nil {
		t.Fatalf("curl --pinnedpubkey accepted the interception certificate: %s", out)
	}
	sq.Stop(t)

	data, err := os.ReadFile(sq.AccessLog)
	if err != nil {
		t.Fatal(err)
	}
	if *updateFindings {
		os.WriteFile(filepath.Join("testdata", "squid-findings-access.log"), data, 0o644)
	}
	untrustedRoot := og.spec(CheckUntrusted).chain[1]
	f, err := ScanAccessLogs(context.Background(), []io.Reader{bytes.NewReader(data)}, []*x509.Certificate{untrustedRoot})
	if err != nil {
		t.Fatal(err)
	}
	checkFindings(t, f, string(data))
}

// clientCertOrigin serves host (a TLS 1.2 site requiring a client
// certificate, from the grading CA) on its own loopback address, port 443.
func clientCertOrigin(t *testing.T, p *PKI, host string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := sign(leafTemplate([]string{host}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour)), p.CA, key.Public(), p.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", loopbackListen(t), &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw, p.CA.Raw}, PrivateKey: key}},
		ClientAuth:   tls.RequireAnyClientCert, MaxVersion: tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 5 * time.Second, ErrorLog: discardLog()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
