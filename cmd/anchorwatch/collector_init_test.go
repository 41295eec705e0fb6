package main

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/server/servertest"
)

// TestCollectorInitOnly: only `collector init` and `serve --init` create
// a database. Every other command refuses a missing or empty one — naming
// the path and the command that creates it — and creates nothing.
func TestCollectorInitOnly(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing", "sub")
	zero := filepath.Join(dir, "zero.db")
	if err := os.WriteFile(zero, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	policyFile := filepath.Join(dir, "policy.p7")
	os.WriteFile(policyFile, []byte("not even a policy"), 0o600)
	for _, where := range [][]string{{"--data-dir", empty}, {"--data-dir", missing}, {"--db", zero}} {
		for _, args := range [][]string{
			{"token", "add", "alice", "--role", "admin"},
			{"secret", "add", "default"},
			{"token", "list"},
			{"host", "list"},
			{"exemption", "list"},
			{"loadgen", "--seed-hosts", "10"},
			{"serve", "--listen", "127.0.0.1:0", "--insecure-http"},
		} {
			all := append(append([]string{"collector"}, where...), args...)
			out, errOut, code := runCLI(t, newRootCmd(), all...)
			if code != 2 || !strings.Contains(errOut, "no collector database at") || !strings.Contains(errOut, "collector "+strings.Join(where, " ")+" init") ||
				strings.Contains(out, "aw") {
				t.Errorf("%v: exit %d, want 2 naming the path and `collector %s init`\nstdout: %s\nstderr: %s", all, code, strings.Join(where, " "), out, errOut)
			}
		}
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Errorf("refused commands left files in the empty data dir: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Error("refused commands created the missing data dir")
	}
	if fi, _ := os.Stat(zero); fi.Size() != 0 {
		t.Error("refused commands wrote into the empty database file")
	}

	// init creates it; a second init changes nothing; then commands work.
	out, errOut, code := runCLI(t, newRootCmd(), "collector", "--data-dir", missing, "init")
	if code != 0 || !strings.Contains(out, "created collector database "+filepath.Join(missing, "collector.db")) {
		t.Fatalf("init: %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code = runCLI(t, newRootCmd(), "collector", "--data-dir", missing, "init"); code != 0 || !strings.Contains(out, "exists already") {
		t.Errorf("init again: %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code = runCLI(t, newRootCmd(), "collector", "--data-dir", missing, "token", "add", "alice", "--role", "admin"); code != 0 || !strings.HasPrefix(out, "awt_") {
		t.Errorf("token add after init: %d\n%s%s", code, out, errOut)
	}
	// init refuses to add its tables to another program's SQLite file.
	other := filepath.Join(dir, "other.db")
	odb, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := odb.Exec("CREATE TABLE notes (x TEXT)"); err != nil {
		t.Fatal(err)
	}
	odb.Close()
	if _, errOut, code := runCLI(t, newRootCmd(), "collector", "--db", other, "init"); code != 2 || !strings.Contains(errOut, "not a collector database") {
		t.Errorf("init on a foreign file: %d %s", code, errOut)
	}

	// serve --init creates the database and serves.
	fresh := filepath.Join(dir, "fresh")
	ctx, cancel := context.WithCancel(context.Background())
	root := newRootCmd()
	var sout, serr servertest.Buffer
	root.SetOut(&sout)
	root.SetErr(&serr)
	root.SetArgs([]string{"collector", "--data-dir", fresh, "serve", "--init", "--listen", "127.0.0.1:0", "--insecure-http"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if strings.Contains(serr.String(), "collector listening") {
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve --init stopped: %v\n%s", err, serr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("serve --init created no database")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve --init: %v\n%s", err, serr.String())
	}
	if fi, err := os.Stat(filepath.Join(fresh, "collector.db")); err != nil || fi.Size() == 0 {
		t.Errorf("serve --init made no database: %v", err)
	}
}
