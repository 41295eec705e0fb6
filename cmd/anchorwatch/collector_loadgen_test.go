package main

import (
	"strings"
	"testing"

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
