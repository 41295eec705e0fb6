//go:build unix

package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/proxy"
	"github.com/anchorwatch/anchorwatch/proxy/proxytest"
	"github.com/anchorwatch/anchorwatch/server/evidence/squidtest"
)

// TestProxyGradeCLI: `anchorwatch proxy grade` against a real ssl-bump
// Squid with Debian's defaults, whose upstream trust holds the roots of
// the grading PKI the command keeps in --pki (and whose hosts_file points
// the grading names at the origins, for --connect-by-name, while the JSON
// run CONNECTs to the origins' address): it prints grade B (Squid
// checks no revocation and offers RSA key exchange), names the failing
// checks with what to change, `--require A` makes it exit 1, and
// `proxy findings` reads the Squid log the run left behind.
func TestProxyGradeCLI(t *testing.T) {
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	pki, _, err := proxy.OpenPKI(pkiDir, proxy.DefaultDomain, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	listen := proxytest.LoopbackListen(t)
	ip, _, _ := net.SplitHostPort(listen)
	hosts := map[string]string{}
	for _, c := range proxy.Checks() {
		hosts[c.ID+"."+proxy.DefaultDomain] = ip // for --connect-by-name: Squid resolves the origins
	}
	sq := proxytest.StartSquid(t, pki.RootsPEM(), squidtest.Options{Hosts: hosts})
	ca := filepath.Join(dir, "interception-ca.pem")
	os.WriteFile(ca, sq.CAPEM, 0o644)
	args := []string{"proxy", "grade", "--proxy", "http://" + sq.Addr, "--pki", pkiDir, "--listen", listen}

	out, errOut, code := runCLI(t, newRootCmd(), append(args, "--ca", ca, "--connect-by-name")...)
	if code != 0 || !strings.Contains(out, "grade B") || !strings.Contains(out, "revoked-crl (B)") ||
		!strings.Contains(out, "tls_outgoing_options crlfile=") || !strings.Contains(out, "expired") {
		t.Fatalf("proxy grade: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("%s", out)

	// JSON, the interception CA learned from the chain, and --require.
	out, errOut, code = runCLI(t, newRootCmd(), append(args, "--json", "--require", "A")...)
	var rep proxy.Report
	if code != 1 || json.Unmarshal([]byte(out), &rep) != nil || rep.Grade != proxy.GradeB || !strings.Contains(rep.InterceptionCA, "Anchorwatch test interception CA") {
		t.Fatalf("proxy grade --json --require A: exit %d, grade %s, CA %q\n%s%s", code, rep.Grade, rep.InterceptionCA, out, errOut)
	}
	if !strings.Contains(errOut, "worse than the required A") {
		t.Errorf("--require A: %s", errOut)
	}

	sq.Stop(t)
	if log, _ := os.ReadFile(sq.AccessLog); !strings.Contains(string(log), " CONNECT valid."+proxy.DefaultDomain+":443 ") ||
		!strings.Contains(string(log), " CONNECT "+listen+" ") {
		t.Errorf("want one run CONNECTing by name and one to the origins' address:\n%s", log)
	}
	out, errOut, code = runCLI(t, newRootCmd(), "proxy", "findings", "--access-log", sq.AccessLog, "--roots", filepath.Join(pkiDir, proxy.RootsFile))
	if code != 0 || !strings.Contains(out, "expired."+proxy.DefaultDomain) || !strings.Contains(out, "X509_V_ERR_CERT_HAS_EXPIRED") {
		t.Errorf("proxy findings: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := runCLI(t, newRootCmd(), "proxy", "grade", "--proxy", "http://user:secret@"+sq.Addr); code != 2 || strings.Contains(errOut, "secret") {
		t.Errorf("credentials in --proxy: exit %d %s", code, errOut)
	}
}

// TestProxyBypassCLI: `anchorwatch proxy bypass` exports only from a
// policy verified against the pinned signer, writes the Squid files or the
// plain lists, leaves expired entries out and removes files an earlier
// export no longer needs.
func TestProxyBypassCLI(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "Corp Interception CA")
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	other, _ := testpki.SelfSigned(t, "Another Signer")
	until := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	past := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	doc, _ := json.Marshal(map[string]any{
		"serial":  5,
		"anchors": []any{map[string]any{"pem": string(testpki.PEM(ca.Cert))}},
		"do_not_decrypt": []any{
			map[string]any{"destinations": []string{"*.bank.example"}, "reason": "online banking", "expires": until},
			map[string]any{"clients": []string{"10.20.0.5"}, "reason": "works council", "expires": until},
			map[string]any{"destinations": []string{"old.example"}, "reason": "ended", "expires": past},
		},
	})
	blob, err := policy.Sign(doc, signer, key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o600)
		return p
	}
	signed, unsigned := write("policy.p7m", blob), write("policy.json", doc)
	signerFile, otherFile := write("signer.pem", testpki.PEM(signer)), write("other.pem", testpki.PEM(other))
	out := filepath.Join(dir, "squid")
	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(out, "anchorwatch-bypass-9-src.txt"), []byte("stale"), 0o644)

	if _, errOut, code := runCLI(t, newRootCmd(), "proxy", "bypass", "--policy", signed, "--signer", otherFile, "-o", out); code == 0 {
		t.Errorf("a policy signed by another key was exported: %s", errOut)
	}
	if _, errOut, code := runCLI(t, newRootCmd(), "proxy", "bypass", "--policy", signed, "-o", out); code != 2 || !strings.Contains(errOut, "--signer") {
		t.Errorf("no --signer: exit %d %s", code, errOut)
	}
	_, errOut, code := runCLI(t, newRootCmd(), "proxy", "bypass", "--policy", signed, "--signer", signerFile, "-o", out, "--squid-dir", "/etc/squid/aw")
	if code != 0 || !strings.Contains(errOut, "2 do-not-decrypt entries in force, 1 expired") {
		t.Fatalf("proxy bypass: exit %d %s", code, errOut)
	}
	conf, _ := os.ReadFile(filepath.Join(out, "anchorwatch-bypass.conf"))
	sni, _ := os.ReadFile(filepath.Join(out, "anchorwatch-bypass-sni.txt"))
	if !strings.Contains(string(conf), `acl aw_bypass_sni ssl::server_name "/etc/squid/aw/anchorwatch-bypass-sni.txt"`) ||
		!strings.Contains(string(conf), "ssl_bump splice aw_bypass_src") || !strings.Contains(string(sni), "\n.bank.example\n") ||
		strings.Contains(string(conf)+string(sni), "old.example") {
		t.Errorf("exported:\n%s\n%s", conf, sni)
	}
	if _, err := os.Stat(filepath.Join(out, "anchorwatch-bypass-9-src.txt")); !os.IsNotExist(err) {
		t.Errorf("the stale file of an earlier export is still there: %v", err)
	}
	plain := filepath.Join(dir, "plain")
	if _, errOut, code := runCLI(t, newRootCmd(), "proxy", "bypass", "--policy", signed, "--unsigned", "--format", "plain", "-o", plain); code != 2 {
		t.Errorf("--unsigned on a signed policy: exit %d %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, newRootCmd(), "proxy", "bypass", "--policy", unsigned, "--unsigned", "--format", "plain", "-o", plain); code != 0 {
		t.Fatalf("plain preview: exit %d %s", code, errOut)
	}
	clients, _ := os.ReadFile(filepath.Join(plain, "anchorwatch-bypass-clients.txt"))
	if !strings.Contains(string(clients), "# works council (until ") || !strings.Contains(string(clients), "\n10.20.0.5/32\n") {
		t.Errorf("plain clients:\n%s", clients)
	}
}
