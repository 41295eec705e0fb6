package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCollectorUsageErrors checks that every usage error of the collector
// commands exits with status 2 and says what is wrong.
func TestCollectorUsageErrors(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "collector.db")
	if out, errOut, code := runCLI(t, newRootCmd(), "collector", "--db", db, "init"); code != 0 {
		t.Fatalf("collector init: %d\n%s%s", code, out, errOut)
	}
	tests := []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"collector"}, "needs a subcommand"},
		{[]string{"collector", "bogus"}, `unknown command "bogus"`},
		{[]string{"collector", "--bogus"}, "unknown flag"},
		{[]string{"collector", "serve", "extra"}, "unknown command"},
		{[]string{"collector", "serve", "--tls-cert", "c.pem"}, "go together"},
		{[]string{"collector", "secret"}, "needs a subcommand"},
		{[]string{"collector", "secret", "bogus"}, `unknown command "bogus"`},
		{[]string{"collector", "secret", "add"}, "accepts 1 arg"},
		{[]string{"collector", "secret", "add", "a", "b"}, "accepts 1 arg"},
		{[]string{"collector", "secret", "list", "x"}, "unknown command"},
		{[]string{"collector", "secret", "revoke"}, "accepts 1 arg"},
		{[]string{"collector", "token", "add"}, "accepts 1 arg"},
		{[]string{"collector", "token", "add", "bi", "--role", "root"}, "use admin or viewer"},
		{[]string{"collector", "token", "list", "x"}, "unknown command"},
		{[]string{"collector", "token", "revoke", "a", "b"}, "accepts 1 arg"},
		{[]string{"collector", "token"}, "needs a subcommand"},
		{[]string{"collector", "policy"}, "needs a subcommand"},
		{[]string{"collector", "policy", "upload"}, "accepts 1 arg"},
		{[]string{"collector", "policy", "upload", "a", "b"}, "accepts 1 arg"},
		{[]string{"collector", "loadgen", "extra"}, "unknown command"},
		{[]string{"collector", "loadgen"}, "--url and an enroll secret"},
		{[]string{"collector", "ingest"}, "name at least one evidence file"},
		{[]string{"collector", "ingest", "f.log"}, "--format is required"},
		{[]string{"collector", "ingest", "--format", "bogus", "f.log"}, `--format "bogus"`},
		{[]string{"collector", "ingest", "--format", "squid-access", "--bogus", "f.log"}, "unknown flag"},
		{[]string{"collector", "exemption"}, "needs a subcommand"},
		{[]string{"collector", "exemption", "bogus"}, `unknown command "bogus"`},
		{[]string{"collector", "exemption", "add"}, "accepts 2 arg"},
		{[]string{"collector", "exemption", "add", "subnet"}, "accepts 2 arg"},
		{[]string{"collector", "exemption", "add", "subnet", "10.0.0.0/8", "x", "--reason", "r"}, "accepts 2 arg"},
		{[]string{"collector", "exemption", "add", "subnet", "10.0.0.0/8"}, "reason"},
		{[]string{"collector", "exemption", "add", "planet", "x", "--reason", "r"}, `kind "planet"`},
		{[]string{"collector", "exemption", "add", "subnet", "10.0.0.0/8", "--reason", "r", "--expires", "soon"}, `--expires "soon"`},
		{[]string{"collector", "exemption", "list", "x"}, "unknown command"},
		{[]string{"collector", "exemption", "remove", "subnet"}, "accepts 2 arg"},
		{[]string{"collector", "exemption", "remove", "planet", "x"}, "planet"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			args := append([]string{tt.args[0], "--db", db}, tt.args[1:]...)
			out, errOut, code := runCLI(t, newRootCmd(), args...)
			if code != 2 {
				t.Errorf("exit %d, want 2\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, errOut)
			}
		})
	}
}
