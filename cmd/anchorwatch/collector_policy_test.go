package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/policy/policytest"
	"github.com/anchorwatch/anchorwatch/server/db"
)

// TestCollectorPolicyUploadImportsExemptions checks that `collector policy
// upload` leaves the policy's exemptions in the device tables at once.
func TestCollectorPolicyUploadImportsExemptions(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "collector.db")
	file := filepath.Join(dir, "policy.p7")
	ex := []policy.Exemption{{Subnets: []string{"10.0.0.0/24"}, Reason: "server VLAN"}, {MACs: []string{"00:11:22:33:44:55"}, Reason: "printer"}}
	if err := os.WriteFile(file, policytest.WithExemptions(t, 5, ex), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runCLI(t, newRootCmd(), "collector", "--db", dbPath, "init"); code != 0 {
		t.Fatalf("collector init: %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := runCLI(t, newRootCmd(), "collector", "--db", dbPath, "policy", "upload", file)
	if code != 0 || !strings.Contains(out, "2 device exemptions imported") {
		t.Fatalf("policy upload: %d\n%s%s", code, out, errOut)
	}
	st, err := db.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var serial, n int64
	if err := st.ReadDB().QueryRow("SELECT serial FROM devices_policy_import WHERE id = 1").Scan(&serial); err != nil {
		t.Fatalf("imported serial: %v", err)
	}
	if err := st.ReadDB().QueryRow("SELECT COUNT(*) FROM device_exemptions WHERE source = 'policy'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if serial != 5 || n != 2 {
		t.Errorf("imported serial %d with %d exemptions, want 5 with 2", serial, n)
	}
}
