package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/server/servertest"
)

// onCommandLine is the warning a secret given as a flag value earns.
const onCommandLine = "visible to other users"

// checkNoSecret fails t when secret appears in any output.
func checkNoSecret(t *testing.T, what, secret string, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		if strings.Contains(o, secret) {
			t.Errorf("%s: the secret appears in the output:\n%s", what, o)
		}
	}
}

func writeSecret(t *testing.T, value string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestIngestTokenSources: `collector ingest --url` takes the admin token
// from --token-file or ANCHORWATCH_TOKEN; --token still works but warns
// that ps shows it; the token is never printed, not even when refused.
func TestIngestTokenSources(t *testing.T) {
	c := servertest.StartCollector(t, servertest.Options{})
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	appendFile(t, log, squidLine(0, 0))
	run := func(extra ...string) (string, string, int) {
		args := append([]string{"collector", "--data-dir", dir, "ingest", "--url", c.URL, "--fingerprint", c.Fingerprint,
			"--state", filepath.Join(dir, "state.json"), "--format", "squid-access"}, extra...)
		return runCLI(t, newRootCmd(), append(args, log)...)
	}
	t.Run("flag", func(t *testing.T) {
		out, errOut, code := run("--token", c.AdminToken)
		if code != 0 || !strings.Contains(errOut, "--token") || !strings.Contains(errOut, onCommandLine) {
			t.Fatalf("--token: exit %d, want 0 and a warning on stderr\n%s%s", code, out, errOut)
		}
		checkNoSecret(t, "--token", c.AdminToken, out, errOut)
	})
	t.Run("file", func(t *testing.T) {
		appendFile(t, log, squidLine(1, 0))
		out, errOut, code := run("--token-file", writeSecret(t, c.AdminToken))
		if code != 0 || strings.Contains(errOut, onCommandLine) || !strings.Contains(out, "sent 1 batches") {
			t.Fatalf("--token-file: exit %d, want 0, one batch, no warning\n%s%s", code, out, errOut)
		}
		checkNoSecret(t, "--token-file", c.AdminToken, out, errOut)
	})
	t.Run("environment", func(t *testing.T) {
		appendFile(t, log, squidLine(2, 0))
		t.Setenv("ANCHORWATCH_TOKEN", c.AdminToken)
		out, errOut, code := run()
		if code != 0 || strings.Contains(errOut, onCommandLine) || !strings.Contains(out, "sent 1 batches") {
			t.Fatalf("ANCHORWATCH_TOKEN: exit %d, want 0, one batch, no warning\n%s%s", code, out, errOut)
		}
		checkNoSecret(t, "ANCHORWATCH_TOKEN", c.AdminToken, out, errOut)
	})
	t.Run("refused", func(t *testing.T) {
		appendFile(t, log, squidLine(3, 0))
		wrong := "awt_NotTheRightTokenButLongEnough0123456789abcdef"
		out, errOut, code := run("--token-file", writeSecret(t, wrong))
		if code == 0 {
			t.Fatalf("a wrong token: exit 0\n%s%s", out, errOut)
		}
		checkNoSecret(t, "a wrong token", wrong, out, errOut)
	})
}

// TestLoadgenEnrollSecretSources: loadgen takes the enroll secret from
// --enroll-secret-file or ANCHORWATCH_ENROLL_SECRET, and warns when it is
// given as --enroll-secret.
func TestLoadgenEnrollSecretSources(t *testing.T) {
	c := servertest.StartCollector(t, servertest.Options{})
	base := []string{"collector", "--data-dir", t.TempDir(), "loadgen", "--url", c.URL, "--ca-cert", c.CertFile,
		"--hosts", "3", "--duration", "300ms", "--concurrency", "4"}
	for _, tt := range []struct {
		name  string
		args  []string
		env   string
		warns bool
	}{
		{"flag", []string{"--enroll-secret", c.EnrollSecret}, "", true},
		{"file", []string{"--enroll-secret-file", writeSecret(t, c.EnrollSecret)}, "", false},
		{"environment", nil, c.EnrollSecret, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("ANCHORWATCH_ENROLL_SECRET", tt.env)
			}
			out, errOut, code := runCLI(t, newRootCmd(), append(base, tt.args...)...)
			if code != 0 || !strings.Contains(out, "enrolled 3 hosts") || strings.Contains(errOut, onCommandLine) != tt.warns {
				t.Fatalf("exit %d, want 0, 3 hosts enrolled, warning %v\n%s%s", code, tt.warns, out, errOut)
			}
			checkNoSecret(t, tt.name, c.EnrollSecret, out, errOut)
		})
	}
}

// TestJavaPasswordSources: the host commands take keystore passwords
// from --java-password-file (PATH=PASS lines); --java-password still
// works but warns; a password never appears in the output, right or
// wrong.
func TestJavaPasswordSources(t *testing.T) {
	w := newWorkstation(t)
	const pw, wrong = "S3cret-Java-Pw", "Wr0ng-Java-Pw"
	ks := filepath.Join(w.root, "etc/ssl/certs/java/cacerts")
	if out, err := exec.Command(keytool(t), "-storepasswd", "-keystore", ks, "-storepass", "changeit", "-new", pw).CombinedOutput(); err != nil {
		t.Fatalf("keytool -storepasswd: %v\n%s", err, out)
	}
	const id = "java:/etc/ssl/certs/java/cacerts"
	for _, tt := range []struct {
		name, pass string
		args       []string
		warns      bool
		want       string
	}{
		{"flag", pw, []string{"--java-password", "/etc/ssl/certs/java/cacerts=" + pw}, true, "missing"},
		{"file", pw, []string{"--java-password-file", writeSecret(t, "# Debian's shared keystore\n/etc/ssl/certs/java/cacerts="+pw)}, false, "missing"},
		{"wrong in a file", wrong, []string{"--java-password-file", writeSecret(t, "/etc/ssl/certs/java/cacerts="+wrong)}, false, "error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := w.cli(t, append([]string{"audit", "--ca", w.caFile, "--json"}, tt.args...)...)
			if code != 1 || strings.Contains(errOut, onCommandLine) != tt.warns {
				t.Fatalf("exit %d, want 1 (CA missing), warning %v\n%s%s", code, tt.warns, out, errOut)
			}
			if _, st := parseAudit(t, out); st[id] != tt.want {
				t.Errorf("%s is %q, want %q\n%s", id, st[id], tt.want, out)
			}
			checkNoSecret(t, tt.name, tt.pass, out, errOut)
		})
	}
	// A malformed line names the line, never its content.
	bad := writeSecret(t, "/etc/ssl/certs/java/cacerts="+pw+"\nno-equals-sign-"+pw)
	out, errOut, code := w.cli(t, "audit", "--ca", w.caFile, "--java-password-file", bad)
	if code != 2 || !strings.Contains(errOut, "line 2") {
		t.Errorf("malformed password file: exit %d, want 2 naming line 2\n%s%s", code, out, errOut)
	}
	checkNoSecret(t, "malformed password file", pw, out, errOut)
}

// TestDBPasswordWarning: a PostgreSQL URL with a password in --db earns
// the warning (ANCHORWATCH_DB or PGPASSWORD/.pgpass keep it off the
// command line), and the password is never printed.
func TestDBPasswordWarning(t *testing.T) {
	const pw = "S3cretDbPw"
	t.Setenv("XDG_STATE_HOME", t.TempDir()) // never the machine's default data dir
	url := "postgres://aw:" + pw + "@127.0.0.1:1/aw?connect_timeout=2&sslmode=disable"
	out, errOut, code := runCLI(t, newRootCmd(), "collector", "--db", url, "token", "list")
	if code == 0 || !strings.Contains(errOut, onCommandLine) {
		t.Errorf("--db with a password: exit %d, want a failure to connect and the warning\n%s%s", code, out, errOut)
	}
	checkNoSecret(t, "--db", pw, out, errOut)
	t.Setenv("ANCHORWATCH_DB", url)
	out, errOut, code = runCLI(t, newRootCmd(), "collector", "token", "list")
	if code == 0 || strings.Contains(errOut, onCommandLine) || !strings.Contains(errOut, "127.0.0.1") {
		t.Errorf("ANCHORWATCH_DB: exit %d, want a failure to connect to it, without the warning\n%s%s", code, out, errOut)
	}
	checkNoSecret(t, "ANCHORWATCH_DB", pw, out, errOut)
}
