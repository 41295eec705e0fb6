package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/server/servertest"
)

// TestLoadgenSaturateCLI: `collector loadgen --saturate` shows its
// progress and each step on stderr and prints the maximum sustained rate.
func TestLoadgenSaturateCLI(t *testing.T) {
	c := servertest.StartCollector(t, servertest.Options{})
	t.Setenv("ANCHORWATCH_ENROLL_SECRET", c.EnrollSecret)
	out, errOut, code := runCLI(t, newRootCmd(), "collector", "loadgen", "--url", c.URL, "--ca-cert", c.CertFile, "--hosts", "10",
		"--concurrency", "8", "--saturate", "--start-rate", "20", "--step-duration", "1500ms", "--max-p99", "10s", "--max-steps", "2")
	if code != 0 || !strings.Contains(out, "maximum sustained:") || strings.Count(out, "offered ") != 2 {
		t.Fatalf("loadgen --saturate: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "report at 20/s: ") || !strings.Contains(errOut, "offered 20/s: ") {
		t.Errorf("no progress or steps on stderr:\n%s", errOut)
	}
}

// TestLoadgenConvergeCLI: `collector loadgen --converge-policy` has its
// simulated agents wait, uploads the policy with the admin token, and
// prints when they all reported its serial; without a token it refuses.
func TestLoadgenConvergeCLI(t *testing.T) {
	c := servertest.StartCollector(t, servertest.Options{HTTP2: true})
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	ca, _ := json.Marshal(string(testpki.PEM(testpki.NewCA(t, "Corp Interception CA").Cert)))
	blob, err := policy.Sign([]byte(`{"serial": 4, "anchors": [{"pem": `+string(ca)+`}]}`), signer, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "policy.p7m")
	if err := os.WriteFile(file, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ANCHORWATCH_ENROLL_SECRET", c.EnrollSecret)
	args := []string{"collector", "loadgen", "--url", c.URL, "--ca-cert", c.CertFile, "--hosts", "30", "--concurrency", "8",
		"--rate", "20", "--converge-policy", file, "--agents-per-conn", "10", "--baseline", "1s"}
	if out, errOut, code := runCLI(t, newRootCmd(), args...); code == 0 || !strings.Contains(errOut+out, "admin API token") {
		t.Fatalf("without a token: exit %d\n%s%s", code, out, errOut)
	}
	t.Setenv("ANCHORWATCH_TOKEN", c.AdminToken)
	out, errOut, code := runCLI(t, newRootCmd(), args...)
	if code != 0 || !strings.Contains(out, "serial 4 reported by 30 of 30 agents") || !strings.Contains(out, "reports during the rollout:") {
		t.Fatalf("loadgen --converge-policy: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "uploading "+file) {
		t.Errorf("the upload is not shown on stderr:\n%s", errOut)
	}
}
