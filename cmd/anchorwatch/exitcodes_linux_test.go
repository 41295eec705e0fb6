package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/agent"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/pki/pkitest"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/server/db"
	"github.com/anchorwatch/anchorwatch/stores/system/systemtest"
)

// runBin runs the real binary and returns its output and exit status.
func runBin(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("anchorwatch %s: still running after 2 minutes\n%s%s", strings.Join(args, " "), out.String(), errb.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return out.String(), errb.String(), code
}

// cliFixture holds an input of each kind the commands read, good and bad.
type cliFixture struct {
	dir, root                     string
	ca, leaf, notPEM, missing     string
	signer, signerKey, other      string
	otherKey                      string
	policyJSON, badPolicy, signed string
	agentCfg, agentCfgNoState     string
	packageCfg                    string // an agent config as a package carries it
	db, squidLog, csv             string
	interCA, rootCA               string // a PKI made with openssl ca (ca check)
}

func newCLIFixture(t *testing.T) *cliFixture {
	t.Helper()
	dir := t.TempDir()
	f := &cliFixture{dir: dir, root: filepath.Join(dir, "root"), missing: filepath.Join(dir, "missing.pem")}
	p := func(name string) string { return filepath.Join(dir, name) }
	write := func(name string, data []byte) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p(name), data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p(name)
	}
	systemtest.DebianRoot(t, f.root)
	ca := testpki.NewCA(t, "Corp Interception CA")
	f.ca = testpki.WritePEM(t, p("ca.pem"), ca.Cert)
	f.leaf = testpki.WritePEM(t, p("leaf.pem"), ca.Leaf(t, "www.example.com").Leaf)
	f.notPEM = write("not-a-cert.pem", []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"))
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	other, otherKey := testpki.SelfSigned(t, "Another Signer")
	f.signer, f.other = testpki.WritePEM(t, p("signer.pem"), signer), testpki.WritePEM(t, p("other.pem"), other)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f.signerKey = write("signer.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if der, err = x509.MarshalPKCS8PrivateKey(otherKey); err != nil {
		t.Fatal(err)
	}
	f.otherKey = write("other.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	f.policyJSON = write("policy.json", policy.Example(ca.Cert))
	f.badPolicy = write("bad-policy.json", []byte(`{"serial": 1, "anchors": [], "surprise": true}`))
	blob, err := policy.Sign(policy.Example(ca.Cert), signer, key)
	if err != nil {
		t.Fatal(err)
	}
	f.signed = write("policy.p7m", blob)

	// Two agent configs: one whose agent reported a compliant host, one
	// whose agent never ran.
	state := filepath.Join(dir, "state")
	write("state/status.json", []byte(`{"pid": 0, "policy_serial": 1, "enrolled": true, "policy_state": "valid", "stores": [{"id": "system:/etc/ssl/certs/ca-certificates.crt", "status": "compliant"}]}`))
	cfg := map[string]any{"collector_url": "http://127.0.0.1:9", "allow_plain_http": true, "enroll_secret": "awe_x",
		"policy_signer_file": f.signer, "state_dir": state}
	b, _ := json.Marshal(cfg)
	f.agentCfg = write("agent.json", b)
	cfg["state_dir"] = filepath.Join(dir, "no-state")
	b, _ = json.Marshal(cfg)
	f.agentCfgNoState = write("agent-no-state.json", b)

	b, _ = json.Marshal(map[string]any{"collector_url": "https://collector.example:8443", "collector_fingerprint": strings.Repeat("ab", 32),
		"enroll_secret": "awe_x", "policy_signer_file": "policy-signer.pem"})
	f.packageCfg = write("package/agent.json", b)
	if err := os.MkdirAll(p("out"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.db = p("collector.db")
	st, err := db.Open(context.Background(), f.db)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	f.squidLog = write("access.log", []byte(squidLine(1, 7)))
	f.csv = write("devices.csv", []byte("ip,mac,hostname,seen_at,source\n10.0.0.7,00:11:22:33:44:55,printer-2,2024-01-10T08:00:00Z,arpwatch\n"))
	pk := pkitest.New(t)
	f.interCA, f.rootCA = pk.Inter.CertFile, pk.Root.CertFile
	return f
}

// exitCase is one run of the real binary and the status it must exit with.
type exitCase struct {
	name string
	args []string
	want int
}

// exitCases: for each command, a bad input (2), a good run (0) and, where
// the command checks something, a failing check (1). Bad flags are tried
// on every command of the tree (TestExitCodes).
func (f *cliFixture) exitCases(bin string) []exitCase {
	db := []string{"collector", "--db", f.db}
	coll := func(args ...string) []string { return append(append([]string{}, db...), args...) }
	root := []string{"--root", f.root, "--stores", "system"}
	host := func(args ...string) []string { return append(args, root...) }
	out := func(name string) string { return filepath.Join(f.dir, "out", name) }
	deb := []string{"package", "deb", "--config", f.packageCfg, "--signer", f.signer, "--version", "1.0.0", "--maintainer", "Ops <ops@example.com>", "-o", out("deb")}
	return []exitCase{
		{"stores: missing root", []string{"stores", "--root", f.missing}, 2},
		{"stores", host("stores"), 0},
		{"install: CA file is no certificate", host("install", "--ca", f.notPEM), 2},
		{"install: leaf", host("install", "--ca", f.leaf), 2},
		{"install: missing CA file", host("install", "--ca", f.missing), 2},
		{"audit: not yet installed", host("audit", "--ca", f.ca), 1},
		{"install", host("install", "--ca", f.ca), 0},
		{"audit: missing CA file", host("audit", "--ca", f.missing), 2},
		{"audit", host("audit", "--ca", f.ca), 0},
		{"inventory: CA file is no certificate", host("inventory", "--ca", f.notPEM), 2},
		{"inventory", host("inventory", "--ca", f.ca), 0},
		{"remove: bad fingerprint", host("remove", "--sha256", "12:34"), 2},
		{"remove", host("remove", "--ca", f.ca), 0},

		{"policy init: CA file is no certificate", []string{"policy", "init", "--ca", f.notPEM}, 2},
		{"policy init", []string{"policy", "init", "--ca", f.ca, "-o", out("init.json")}, 0},
		{"policy init: output exists", []string{"policy", "init", "--ca", f.ca, "-o", f.policyJSON}, 2},
		{"policy sign: missing document", []string{"policy", "sign", "--key", f.signerKey, "--cert", f.signer, f.missing, "-o", out("x.p7m")}, 2},
		{"policy sign: invalid document", []string{"policy", "sign", "--key", f.signerKey, "--cert", f.signer, f.badPolicy, "-o", out("x.p7m")}, 2},
		{"policy sign: key is no key", []string{"policy", "sign", "--key", f.ca, "--cert", f.signer, f.policyJSON, "-o", out("x.p7m")}, 2},
		{"policy sign", []string{"policy", "sign", "--key", f.signerKey, "--cert", f.signer, f.policyJSON, "-o", out("policy.p7m")}, 0},
		{"policy verify: missing policy", []string{"policy", "verify", "--signer", f.signer, f.missing}, 2},
		{"policy verify: missing signer", []string{"policy", "verify", "--signer", f.missing, f.signed}, 2},
		{"policy verify: another signer", []string{"policy", "verify", "--signer", f.other, f.signed}, 1},
		{"policy verify", []string{"policy", "verify", "--signer", f.signer, f.signed}, 0},
		{"policy show: missing policy", []string{"policy", "show", f.missing}, 2},
		{"policy show: invalid document", []string{"policy", "show", f.badPolicy}, 2},
		{"policy show: another signer", []string{"policy", "show", "--signer", f.other, f.signed}, 1},
		{"policy show", []string{"policy", "show", "--signer", f.signer, f.signed}, 0},
		{"policy show: unsigned document", []string{"policy", "show", f.policyJSON}, 0},
		{"policy cosign: missing key", []string{"policy", "cosign", "--cert", f.other, "--key", f.missing, f.signed, "-o", out("cosigned.p7m")}, 2},
		{"policy cosign: not signed", []string{"policy", "cosign", "--cert", f.other, "--key", f.otherKey, f.policyJSON, "-o", out("cosigned.p7m")}, 2},
		{"policy cosign", []string{"policy", "cosign", "--cert", f.other, "--key", f.otherKey, f.signed, "-o", out("cosigned.p7m")}, 0},
		{"policy rotate: missing CA file", []string{"policy", "rotate", "--from", f.missing, "--to", f.interCA, "--policy", f.policyJSON, "-o", out("rotated.json")}, 2},
		{"policy rotate: leaf", []string{"policy", "rotate", "--from", f.ca, "--to", f.leaf, "--policy", f.policyJSON, "-o", out("rotated.json")}, 2},
		{"policy rotate", []string{"policy", "rotate", "--from", f.ca, "--to", f.interCA, "--policy", f.signed, "--reason", "test", "-o", out("rotated.json")}, 0},

		{"agent run: missing config", []string{"agent", "run", "--config", f.missing}, 2},
		{"agent run: invalid config", []string{"agent", "run", "--config", f.policyJSON}, 2},
		{"agent install: invalid config", []string{"agent", "install", "--config", f.policyJSON}, 2},
		{"agent start: missing root", []string{"agent", "start", "--root", f.missing}, 2},
		{"agent stop: missing root", []string{"agent", "stop", "--root", f.missing}, 2},
		{"agent restart: missing root", []string{"agent", "restart", "--root", f.missing}, 2},
		{"agent uninstall: missing root", []string{"agent", "uninstall", "--root", f.missing}, 2},
		{"agent install: missing config", []string{"agent", "install", "--config", f.missing}, 2},
		{"agent status: missing config", []string{"agent", "status", "--config", f.missing}, 2},
		{"agent status: the agent never ran", []string{"agent", "status", "--config", f.agentCfgNoState}, 1},
		{"agent status", []string{"agent", "status", "--config", f.agentCfg}, 0},
		{"agent configure: missing package config", []string{"agent", "configure", "--config", out("agent/agent.json"), "--package-config", f.missing}, 2},
		{"agent configure", []string{"agent", "configure", "--config", out("agent/agent.json"), "--package-config", f.agentCfg}, 0},

		{"package mobileconfig: CA file is no certificate", []string{"package", "mobileconfig", "--ca", f.notPEM, "--sign-key", f.signerKey, "--sign-cert", f.signer, "-o", out("x.mobileconfig")}, 2},
		{"package mobileconfig: key is no key", []string{"package", "mobileconfig", "--ca", f.ca, "--sign-key", f.ca, "--sign-cert", f.signer, "-o", out("x.mobileconfig")}, 2},
		{"package mobileconfig", []string{"package", "mobileconfig", "--ca", f.ca, "--sign-key", f.signerKey, "--sign-cert", f.signer, "-o", out("ca.mobileconfig")}, 0},
		{"package gpo: missing CA file", []string{"package", "gpo", "--ca", f.missing, "-o", out("gpo")}, 2},
		{"package gpo", []string{"package", "gpo", "--ca", f.ca, "-o", out("gpo")}, 0},
		{"package intune: leaf", []string{"package", "intune", "--ca", f.leaf, "-o", out("intune")}, 2},
		{"package intune", []string{"package", "intune", "--ca", f.ca, "-o", out("intune")}, 0},
		{"package deb: missing binary", append(deb, "--binary", f.missing), 2},
		{"package deb: invalid config", []string{"package", "deb", "--binary", bin, "--config", f.policyJSON, "--signer", f.signer, "--version", "1.0.0", "--maintainer", "Ops <ops@example.com>", "-o", out("deb")}, 2},
		{"package deb", append(deb, "--binary", bin), 0},
		{"package rpm: missing signer", []string{"package", "rpm", "--binary", bin, "--config", f.packageCfg, "--signer", f.missing, "--version", "1.0.0", "--maintainer", "Ops <ops@example.com>", "-o", out("rpm")}, 2},
		{"package msi: missing binary", []string{"package", "msi", "--binary", f.missing, "--config", f.agentCfg, "--signer", f.signer, "--version", "1.0.0", "-o", out("msi")}, 2},
		{"package pkg: missing binary", []string{"package", "pkg", "--binary", f.missing, "--config", f.agentCfg, "--signer", f.signer, "--version", "1.0.0", "-o", out("pkg")}, 2},

		{"ca check: leaf", []string{"ca", "check", "--offline", "--ca", f.leaf}, 2},
		{"ca check: CA without CDP or AIA", []string{"ca", "check", "--offline", "--ca", f.ca}, 1},
		{"ca check", []string{"ca", "check", "--offline", "--ca", f.interCA, "--issuer", f.rootCA}, 0},

		{"proxy grade: CA file is no certificate", []string{"proxy", "grade", "--proxy", "http://127.0.0.1:9", "--ca", f.notPEM, "--pki", out("pki")}, 2},
		{"proxy findings: missing log", []string{"proxy", "findings", "--access-log", f.missing, "--roots", f.ca}, 2},
		{"proxy findings", []string{"proxy", "findings", "--access-log", f.squidLog, "--roots", f.ca}, 0},
		{"proxy bypass: missing policy", []string{"proxy", "bypass", "--policy", f.missing, "--signer", f.signer, "-o", out("bypass")}, 2},
		{"proxy bypass: another signer", []string{"proxy", "bypass", "--policy", f.signed, "--signer", f.other, "-o", out("bypass")}, 1},
		{"proxy bypass", []string{"proxy", "bypass", "--policy", f.signed, "--signer", f.signer, "-o", out("bypass")}, 0},

		{"collector init: database exists", coll("init"), 0},
		{"collector init", []string{"collector", "--db", filepath.Join(f.dir, "out", "new.db"), "init"}, 0},
		{"collector token list: no database", []string{"collector", "--db", filepath.Join(f.dir, "out", "none.db"), "token", "list"}, 2},
		{"collector serve: missing certificate", coll("serve", "--listen", "127.0.0.1:0", "--tls-cert", f.missing, "--tls-key", f.missing), 2},
		{"collector secret add", coll("secret", "add", "site-a"), 0},
		{"collector secret list", coll("secret", "list"), 0},
		{"collector secret revoke", coll("secret", "revoke", "site-a"), 0},
		{"collector token add", coll("token", "add", "ops", "--role", "admin"), 0},
		{"collector token list", coll("token", "list"), 0},
		{"collector token revoke", coll("token", "revoke", "ops"), 0},
		{"collector policy upload: missing policy", coll("policy", "upload", f.missing), 2},
		{"collector policy upload: not signed", coll("policy", "upload", f.policyJSON), 2},
		{"collector policy upload", coll("policy", "upload", f.signed), 0},
		{"collector loadgen", coll("loadgen", "--seed-hosts", "2"), 0},
		{"collector ingest: missing file", coll("ingest", "--format", "csv", f.missing), 2},
		{"collector ingest", coll("ingest", "--format", "csv", f.csv), 0},
		{"collector ingest: squid log", coll("ingest", "--format", "squid-access", f.squidLog), 0},
		{"collector exemption add: bad subnet", coll("exemption", "add", "subnet", "10.0.0.300/8", "--reason", "lab"), 2},
		{"collector exemption add", coll("exemption", "add", "subnet", "10.50.0.0/16", "--reason", "guest Wi-Fi"), 0},
		{"collector exemption list", coll("exemption", "list"), 0},
		{"collector exemption remove", coll("exemption", "remove", "subnet", "10.50.0.0/16"), 0},
		{"collector host list", coll("host", "list"), 0},
		{"collector host retire: not an id", coll("host", "retire", "web-1"), 2},
		{"collector host retire: no such host", coll("host", "retire", "99"), 1},
		{"collector host delete: not an id", coll("host", "delete", "web-1"), 2},
		{"collector host delete: no such host", coll("host", "delete", "99"), 1},
		{"collector host merge: two ids", coll("host", "merge", "1", "2"), 2},
		{"collector host revoke-node-key: no such host", coll("host", "revoke-node-key", "99"), 1},
		{"collector host list: flagged", coll("host", "list", "--flagged", "--json"), 0},

		{"completion bash", []string{"completion", "bash"}, 0},
		{"completion zsh", []string{"completion", "zsh"}, 0},
		{"completion fish", []string{"completion", "fish"}, 0},
		{"completion powershell", []string{"completion", "powershell"}, 0},
		{"completion: unknown shell", []string{"completion", "tcsh"}, 2},
		{"help", []string{"help", "install"}, 0},
		{"help: unknown command", []string{"help", "no-such-command"}, 2},
	}
}

// TestExitCodes runs the real binary: every command exits 0 on a good
// run, 1 when what it checks fails, 2 on a usage or input error; an
// unknown flag on any command of the tree, and an unknown command under
// any group, exit 2 with the same hint.
func TestExitCodes(t *testing.T) {
	rootOnlyTemp(t) // the sandbox's stores are written only where root alone can
	bin := buildAnchorwatch(t)
	f := newCLIFixture(t)
	for _, tc := range f.exitCases(bin) {
		stdout, stderr, code := runBin(t, bin, tc.args...)
		if code != tc.want {
			t.Errorf("%s: exit %d, want %d\n$ anchorwatch %s\n%s%s", tc.name, code, tc.want, strings.Join(tc.args, " "), stdout, stderr)
		}
		if code != 0 && strings.TrimSpace(stderr) == "" && tc.want != 1 {
			t.Errorf("%s: exit %d without a word on stderr", tc.name, code)
		}
	}
	cases := f.exitCases(bin)
	var groups, leaves []*cobra.Command
	walkCommands(newRootCmd(), func(c *cobra.Command) {
		if c.HasSubCommands() {
			groups = append(groups, c)
		} else {
			leaves = append(leaves, c)
		}
	})
	for _, c := range leaves {
		if !coveredBy(c, cases) {
			t.Errorf("%s: no exit case runs it", c.CommandPath())
		}
		args := append(strings.Fields(c.CommandPath())[1:], "--no-such-flag")
		_, stderr, code := runBin(t, bin, args...)
		hint := "Run '" + c.CommandPath() + " --help' for usage."
		if code != 2 || !strings.Contains(stderr, "unknown flag: --no-such-flag\n"+hint) {
			t.Errorf("anchorwatch %s: exit %d, want 2 and the hint %q\n%s", strings.Join(args, " "), code, hint, stderr)
		}
	}
	for _, c := range groups {
		args := append(strings.Fields(c.CommandPath())[1:], "no-such-command")
		_, stderr, code := runBin(t, bin, args...)
		hint := "Run '" + c.CommandPath() + " --help' for usage."
		if code != 2 || !strings.Contains(stderr, `unknown command "no-such-command" for "`+c.CommandPath()+`"`+"\n"+hint) {
			t.Errorf("anchorwatch %s: exit %d, want 2 and the hint %q\n%s", strings.Join(args, " "), code, hint, stderr)
		}
		if _, _, code := runBin(t, bin, append(strings.Fields(c.CommandPath())[1:], "--help")...); code != 0 {
			t.Errorf("%s --help: exit %d", c.CommandPath(), code)
		}
	}
}

// coveredBy reports whether some case is named after the command c.
func coveredBy(c *cobra.Command, cases []exitCase) bool {
	name := strings.TrimPrefix(c.CommandPath(), "anchorwatch ")
	for _, tc := range cases {
		if tc.name == name || strings.HasPrefix(tc.name, name+":") {
			return true
		}
	}
	return false
}

// TestAgentStatusExitsOnError: `agent status` prints what it found and
// exits 1 when that is an error or a problem the agent reported.
func TestAgentStatusExitsOnError(t *testing.T) {
	dir := t.TempDir()
	signer, _ := testpki.SelfSigned(t, "Policy Signer")
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "agent.json")
	b, _ := json.Marshal(map[string]any{"collector_url": "http://127.0.0.1:9", "allow_plain_http": true, "enroll_secret": "awe_x",
		"policy_signer_file": testpki.WritePEM(t, filepath.Join(dir, "signer.pem"), signer), "state_dir": state})
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status agent.Status
		want   int
		says   string
	}{
		{agent.Status{Enrolled: true, PolicySerial: 3, Stores: []agent.StoreReport{{ID: "nss:/etc/pki/nssdb", Status: "compliant"}}}, 0, ""},
		{agent.Status{LastError: "report: connection refused"}, 1, "last error: report: connection refused"},
		{agent.Status{PolicyProblem: "wrong signer"}, 1, "policy: wrong signer"},
		{agent.Status{PolicyState: "expired"}, 1, "expired"},
		{agent.Status{Stores: []agent.StoreReport{{ID: "java:/etc/ssl/certs/java/cacerts", Status: "error", Detail: "wrong password"}}}, 1, "1 store not compliant: java:/etc/ssl/certs/java/cacerts error"},
	} {
		data, _ := json.Marshal(tc.status)
		if err := os.WriteFile(filepath.Join(state, "status.json"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := runCLI(t, newRootCmd(), "agent", "status", "--config", cfg)
		var got struct {
			Agent *agent.Status `json:"agent"`
		}
		if code != tc.want || json.Unmarshal([]byte(out), &got) != nil || got.Agent == nil || !strings.Contains(errOut, tc.says) {
			t.Errorf("%+v: exit %d (want %d), stderr %q (want %q)\n%s", tc.status, code, tc.want, errOut, tc.says, out)
		}
	}
}
