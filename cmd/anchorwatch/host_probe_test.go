package main

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

// TestAuditProbe runs `anchorwatch audit --probe https://127.0.0.1:…`
// against a local TLS server whose CA no store of this host holds: each
// real client found here (Python, Node, git, curl, wget) is reported as
// untrusted and the exit status is 1.
func TestAuditProbe(t *testing.T) {
	ca := testpki.NewCA(t, "Corp Interception CA")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = testpki.ServerConfig(ca.Leaf(t, "127.0.0.1"))
	srv.StartTLS()
	defer srv.Close()
	url := srv.URL
	t.Setenv("HTTPS_PROXY", "")
	t.Setenv("https_proxy", "")
	out, errOut, code := runCLI(t, newRootCmd(), "audit", "--probe", url)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"RUNTIME", "node", "git", "curl", "untrusted", "do NOT complete a verified handshake"} {
		if !strings.Contains(oneLine(out), want) { // the summary wraps at 80 columns
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, _, code = runCLI(t, newRootCmd(), "audit", "--probe", url, "--json")
	var doc struct {
		Probe probeOutput `json:"probe"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 1 || doc.Probe.OK || len(doc.Probe.Results) < 4 {
		t.Fatalf("--json: code %d, %v, %+v", code, err, doc.Probe)
	}
	for _, r := range doc.Probe.Results {
		if r.Outcome != "untrusted" {
			t.Errorf("%s %s: %s %s", r.Name, r.Path, r.Outcome, r.Detail)
		}
	}
	for _, args := range [][]string{
		{"audit", "--probe", "http://example.com"},
		{"audit", "--probe", url, "--root", t.TempDir()},
		{"audit"},
	} {
		if _, _, code := runCLI(t, newRootCmd(), args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)", args, code)
		}
	}
}
