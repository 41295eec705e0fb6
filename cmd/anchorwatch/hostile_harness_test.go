//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/agent"
	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/hostile"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/server/servertest"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/nss/nsstest"
)

// The security tests (hostile_test.go) play a local user against the root
// side of Anchorwatch: a real account made with useradd, which plants its
// traps with processes of its own, and the real anchorwatch binary, run as
// root on a sandbox root — once as the CLI, once as the agent daemon.

// hostileHost is a sandbox root with one hostile user in its /etc/passwd,
// the user's home at /home/<name> (inside the root) given to them, and a
// system NSS database /etc/pki/nssdb that only root controls.
type hostileHost struct {
	t       *testing.T
	bin     string
	root    string
	user    hostile.User
	home    string // inside the root
	ca      *testpki.CA
	caFile  string
	markers string // where the planted module records who loaded it
}

func newHostileHost(t *testing.T) *hostileHost {
	t.Helper()
	h := &hostileHost{t: t, bin: buildAnchorwatch(t), root: t.TempDir(), user: hostile.NewUser(t)}
	h.home = "/home/" + h.user.Name
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/bin/bash\n%s:x:%d:%d::%s:/bin/sh\n", h.user.Name, h.user.UID, h.user.GID, h.home)
	h.write("/etc/passwd", passwd, 0o644)
	nsstest.NewDB(t, h.root, "/etc/pki/nssdb")
	if err := os.MkdirAll(h.host(h.home), 0o755); err != nil {
		t.Fatal(err)
	}
	h.give(h.home)
	h.ca = testpki.NewCA(t, "Corp Interception CA")
	h.caFile = testpki.WritePEM(t, filepath.Join(t.TempDir(), "ca.pem"), h.ca.Cert)
	h.markers = t.TempDir()
	if err := os.Chmod(h.markers, 0o1777); err != nil {
		t.Fatal(err)
	}
	return h
}

// host returns the host path of p (inside the root).
func (h *hostileHost) host(p string) string { return fsroot.Join(h.root, p) }

func (h *hostileHost) write(p, content string, mode fs.FileMode) {
	h.t.Helper()
	hp := h.host(p)
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(hp, []byte(content), mode); err != nil {
		h.t.Fatal(err)
	}
}

// give hands p (inside the root) and everything under it to the user.
func (h *hostileHost) give(p string) {
	h.t.Helper()
	h.user.Give(h.t, h.host(p), os.TempDir())
}

// userDB makes an NSS database (the real certutil) at p inside the
// user's home and gives it to the user; it returns p.
func (h *hostileHost) userDB(p string) string {
	h.t.Helper()
	nsstest.NewDB(h.t, h.root, p)
	h.give(h.home)
	return p
}

// as runs a shell script as the hostile user.
func (h *hostileHost) as(script string) string {
	h.t.Helper()
	return h.user.Shell(h.t, script)
}

// rootLoads lists the planted module's records of being loaded by root.
func (h *hostileHost) rootLoads() []string {
	h.t.Helper()
	ents, _ := os.ReadDir(h.markers)
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "uid-0-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// evilModule is what the hostile user names in pkcs11.txt: NSS dlopen()s
// every library= line, so its constructor runs in whatever process opens
// the database. It records the uid it was loaded by; built with SWAP, it
// also forks a child that, the moment that process exits, moves the
// database directory away and puts a symbolic link to a root-owned
// directory in its place.
const evilModule = `#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

static void swap(int sig) {
	(void)sig;
#ifdef SWAP
	if (rename(DBDIR, DBDIR ".moved") == 0) symlink(VICTIM, DBDIR);
#endif
	_exit(0);
}

__attribute__((constructor)) static void loaded(void) {
	char p[4096];
	snprintf(p, sizeof p, "%s/uid-%d-pid-%d", MARKERS, (int)geteuid(), (int)getpid());
	FILE *f = fopen(p, "w");
	if (f) fclose(f);
#ifdef SWAP
	if (fork() == 0) {
		signal(SIGUSR1, swap);
		prctl(PR_SET_PDEATHSIG, SIGUSR1);
		if (getppid() == 1) swap(0);
		pause();
		_exit(0);
	}
#endif
}
`

// module compiles evilModule (gcc) into a file the user owns and returns
// its host path. defs are extra -D flags.
func (h *hostileHost) module(defs ...string) string {
	h.t.Helper()
	dir := h.host(path.Join(h.home, ".local/lib"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		h.t.Fatal(err)
	}
	src := filepath.Join(dir, "helper.c")
	so := filepath.Join(dir, "libhelper.so")
	if err := os.WriteFile(src, []byte(evilModule), 0o644); err != nil {
		h.t.Fatal(err)
	}
	args := []string{"-shared", "-fPIC", "-o", so, src, fmt.Sprintf("-DMARKERS=%q", h.markers)}
	for _, d := range defs {
		args = append(args, "-D"+d)
	}
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		h.t.Fatalf("gcc (Debian package gcc): %v\n%s", err, out)
	}
	h.give(h.home)
	return so
}

// plantModule makes the user add a library= line for so to the
// pkcs11.txt of the database at db (inside the root).
func (h *hostileHost) plantModule(db, so string) {
	h.t.Helper()
	h.as(fmt.Sprintf("printf '\\nlibrary=%s\\nname=helper\\n' >> %s", so, filepath.Join(h.host(db), "pkcs11.txt")))
}

// cli runs the real binary as root with --root on the sandbox. A run
// still going after 90 s is killed and fails the test: the point of
// several tests is that a trap must not hang it.
func (h *hostileHost) cli(args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, append(args, "--root", h.root)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		h.t.Fatalf("anchorwatch %s hung (killed after 90 s)\n%s%s", strings.Join(args, " "), o.String(), e.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		h.t.Fatal(err)
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

// statuses runs audit --json and returns each store's status and detail.
func (h *hostileHost) statuses() map[string][2]string {
	h.t.Helper()
	out, errOut, _ := h.cli("audit", "--ca", h.caFile, "--json")
	var a auditJSON
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		h.t.Fatalf("audit --json: %v\n%s%s", err, out, errOut)
	}
	m := map[string][2]string{}
	for _, s := range a.Stores {
		m[s.ID] = [2]string{s.Status, s.Detail}
	}
	return m
}

// snapshotDir hashes the regular files of a host directory.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		sum := sha256.Sum256(b)
		fi, _ := os.Lstat(filepath.Join(dir, e.Name()))
		st := fi.Sys().(*syscall.Stat_t)
		m[e.Name()] = fmt.Sprintf("%s %o %d:%d", hex.EncodeToString(sum[:]), fi.Mode().Perm(), st.Uid, st.Gid)
	}
	return m
}

func buildAnchorwatch(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "anchorwatch")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// agentProc is the real binary running `agent run` as root on the
// sandbox, enrolled with a real collector that serves a policy
// installing the host's CA.
type agentProc struct {
	t        *testing.T
	cmd      *exec.Cmd
	stateDir string
	log      string
	exited   chan error
}

func (h *hostileHost) startAgent(kinds ...stores.Kind) *agentProc {
	t := h.t
	t.Helper()
	coll := servertest.StartCollector(t, servertest.Options{})
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	doc, _ := json.Marshal(map[string]any{"serial": 1, "anchors": []any{map[string]any{"pem": string(testpki.PEM(h.ca.Cert))}}})
	blob, err := policy.Sign(doc, signer, key)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := coll.Do(t, http.MethodPut, api.PathPolicy, coll.AdminToken, blob); code != http.StatusOK {
		t.Fatalf("upload policy: %d %s", code, body)
	}
	dir := t.TempDir()
	signerFile := testpki.WritePEM(t, filepath.Join(dir, "signer.pem"), signer)
	secret := filepath.Join(dir, "enroll-secret")
	if err := os.WriteFile(secret, []byte(coll.EnrollSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{
		"collector_url": coll.URL, "collector_fingerprint": coll.Fingerprint, "enroll_secret_file": secret,
		"policy_signer_file": signerFile, "state_dir": filepath.Join(dir, "state"), "stores": kinds,
		"log_level": "debug", "rescan_interval": "3s",
	})
	cfgFile := filepath.Join(dir, "agent.json")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &agentProc{t: t, stateDir: filepath.Join(dir, "state"), log: filepath.Join(dir, "agent.log"), exited: make(chan error, 1)}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(h.bin, "agent", "run", "--config", cfgFile, "--root", h.root)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("agent log:\n%s", lastLines(string(b), 60))
		}
	})
	return p
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// store returns what the agent last reported for store id once it
// enforces the policy (before, every store reads "compliant: no policy
// in force yet").
func (p *agentProc) store(id string) (status, detail string) {
	st, err := agent.ReadStatus(p.stateDir)
	if err != nil || st.PolicySerial < 1 {
		return "", ""
	}
	for _, s := range st.Stores {
		if s.ID == id {
			return string(s.Status), s.Detail
		}
	}
	return "", ""
}

// waitStore waits (at most a minute, no timing asserted) until the agent
// reports store id with the given status and returns its detail.
func (p *agentProc) waitStore(id, status string) string {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, detail := p.store(id)
		if got == status {
			return detail
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the agent reports %s as %q (%s), want %q", id, got, detail, status)
		}
		select {
		case err := <-p.exited:
			p.t.Fatalf("the agent exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits for the agent to end. An agent that is
// still running 30 s later is killed and fails the test: SIGTERM must
// end it whatever a store does (its own shutdown takes well under a
// second).
func (p *agentProc) stop() time.Duration {
	p.t.Helper()
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return time.Since(start)
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		p.t.Fatal("the agent ignored SIGTERM for 30 s and was killed")
	}
	return 0
}
