package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/db"
)

// TestCollectorHostCommands: `collector host list --flagged` shows the
// host made by enrolling a known machine id without its key; merge folds
// it into the host it claims to be; retire removes one.
func TestCollectorHostCommands(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "collector.db")
	st, err := db.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	enroll := func(name, key string) db.EnrollOut {
		eo, _, err := st.WriteBatch(context.Background(), []db.EnrollIn{{NodeKey: db.NewCredential(db.PrefixNodeKey), Now: time.Now(),
			HostKey: key, Facts: api.HostFacts{Hostname: name, MachineID: "m-1", OS: "linux"}}}, nil)
		if err != nil || eo[0].Err != nil {
			t.Fatal(err, eo)
		}
		return eo[0]
	}
	orig, img, imp := enroll("pc-1", "KEY-A"), enroll("pc-1", "KEY-B"), enroll("evil", "")
	st.Close()
	cli := func(args ...string) (string, string, int) {
		return runCLI(t, newRootCmd(), append([]string{"collector", "--db", dbPath, "host"}, args...)...)
	}
	out, errOut, code := cli("list", "--flagged")
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, "evil") || !strings.Contains(out, fmt.Sprintf("  %d\n", orig.HostID)) /* CLONE OF, the last column */ {
		t.Fatalf("host list --flagged: %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := cli("merge", fmt.Sprint(orig.HostID)); code != 1 || !strings.Contains(errOut, "not flagged") {
		t.Errorf("merge of an unflagged host: %d %s", code, errOut)
	}
	if out, errOut, code := cli("merge", fmt.Sprint(img.HostID)); code != 0 || !strings.Contains(out, fmt.Sprintf("merged into host %d", orig.HostID)) {
		t.Fatalf("merge: %d %s%s", code, out, errOut)
	}
	// Retire keeps the host, out of the active list; delete removes it.
	if out, errOut, code := cli("retire", fmt.Sprint(imp.HostID)); code != 0 || !strings.Contains(out, "retired") {
		t.Fatalf("retire: %d %s%s", code, out, errOut)
	}
	if _, errOut, code := cli("retire", fmt.Sprint(imp.HostID)); code != 1 || !strings.Contains(errOut, "retired already") {
		t.Errorf("retire twice: %d %s", code, errOut)
	}
	if _, errOut, code := cli("retire", "x"); code != 2 {
		t.Errorf("retire x: %d %s", code, errOut)
	}
	out, _, _ = cli("list")
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, "bound") {
		t.Errorf("host list after merge and retire:\n%s", out)
	}
	out, _, _ = cli("list", "--retired", "--json")
	var retired []api.HostSummary
	if err := json.Unmarshal([]byte(out), &retired); err != nil || len(retired) != 1 || retired[0].ID != imp.HostID || retired[0].RetiredAt.IsZero() {
		t.Errorf("host list --retired --json: %v\n%s", err, out)
	}
	if _, errOut, code := cli("delete", fmt.Sprint(imp.HostID)); code != 0 {
		t.Fatalf("delete: %d %s", code, errOut)
	}
	if out, _, _ = cli("list", "--all"); strings.Count(out, "\n") != 2 {
		t.Errorf("host list --all after delete:\n%s", out)
	}
	if _, errOut, code := cli("delete", fmt.Sprint(imp.HostID)); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("delete twice: %d %s", code, errOut)
	}
}
