//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/nss/nsstest"
)

// install runs install --json and returns each store's outcome.
func (h *hostileHost) install(kinds string) (map[string]changeResult, int) {
	h.t.Helper()
	out, errOut, code := h.cli("install", "--ca", h.caFile, "--stores", kinds, "--json")
	var o changeOutput
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		h.t.Fatalf("install --json: %v\n%s%s", err, out, errOut)
	}
	m := map[string]changeResult{}
	for _, r := range o.Stores {
		m[r.ID] = r
	}
	return m, code
}

// userTrust is the trust certutil, run as the hostile user, shows for
// our CA in their database db (inside the root): running it as root
// would load their module as root.
func (h *hostileHost) userTrust(db string) string {
	h.t.Helper()
	out := h.as("certutil -L -d sql:" + h.host(db) + " || true")
	label := stores.Label(h.ca.Cert)
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == label {
			return f[1]
		}
	}
	return ""
}

func (h *hostileHost) noRootLoads(when string) {
	h.t.Helper()
	if loads := h.rootLoads(); len(loads) > 0 {
		h.t.Fatalf("%s: root loaded the user's PKCS#11 module (%v): a local user got root", when, loads)
	}
}

// Issue 9 item 1. The owner locks themselves out of their own database
// (chmod 000) after naming a module of theirs in its pkcs11.txt. Their
// certutil cannot open it; anchorwatch must then report the store as an
// error — never run certutil again as root in that directory, which
// would load the module as root. Once the owner opens the database
// again, the agent heals it, as the owner.
func TestHostileLockedOutDatabase(t *testing.T) {
	h := newHostileHost(t)
	db := h.userDB(h.home + "/.pki/nssdb")
	h.plantModule(db, h.module())
	h.as("chmod 000 " + h.host(db))
	id := "nss:" + db

	res, code := h.install("nss")
	if code == 0 || res[id].Status != outcomeError || !strings.Contains(res[id].Detail, "cannot open it") {
		t.Errorf("install: exit %d, %s: %+v; want an error saying the owner cannot open it", code, id, res[id])
	}
	if res["nss:/etc/pki/nssdb"].Status != outcomeChanged {
		t.Errorf("the system database was not installed: %+v", res["nss:/etc/pki/nssdb"])
	}
	h.noRootLoads("install")

	p := h.startAgent(stores.KindNSS)
	p.waitStore("nss:/etc/pki/nssdb", "compliant")
	if d := p.waitStore(id, "error"); !strings.Contains(d, "cannot open it") {
		t.Errorf("agent detail %q", d)
	}
	time.Sleep(3 * time.Second) // let the agent retry (0.5 s, 1 s, 2 s backoff) and rescan
	h.noRootLoads("agent")

	h.as("chmod 700 " + h.host(db))
	p.waitStore(id, "compliant")
	if tr := h.userTrust(db); tr != "C,," {
		t.Errorf("after the heal the user's certutil shows %q, want C,,", tr)
	}
	h.noRootLoads("heal")
	p.stop()
}

// Issue 9 item 2. The user's database files are symbolic links to a
// root-owned database (one nobody discovers, so anchorwatch has no
// business writing it), or a hard link to another file of theirs.
// Ownership must be read from the files themselves, not through the
// links: each such store is an error, the root-owned database stays
// byte-identical, and the user's module is never loaded by root. A
// profiles.ini naming a root-owned profile outside any home does not
// make it the user's store either.
func TestHostileLinkedDatabaseFiles(t *testing.T) {
	h := newHostileHost(t)
	victim := nsstest.NewDB(t, h.root, "/srv/root-only/nssdb")
	os.Chmod(h.host("/srv/root-only"), 0o700)
	before := snapshotDir(t, h.host(victim))
	so := h.module()

	symDB := h.userDB(h.home + "/.pki/nssdb")
	h.plantModule(symDB, so)
	h.as("cd " + h.host(symDB) + " && ln -sf " + h.host(victim) + "/cert9.db cert9.db && ln -sf " + h.host(victim) + "/key4.db key4.db")
	hardDB := h.userDB(h.home + "/.mozilla/firefox/hard.default")
	h.as("cd " + h.host(hardDB) + " && cp cert9.db ../keep.db && ln -f ../keep.db cert9.db")
	h.write(h.home+"/.mozilla/firefox/profiles.ini", "[Profile0]\nName=hard\nIsRelative=1\nPath=hard.default\n\n[Profile1]\nName=root\nIsRelative=0\nPath="+victim+"\n", 0o644)
	h.give(h.home)

	out, _, _ := h.cli("stores", "--json")
	if strings.Contains(out, victim) {
		t.Errorf("a user's profiles.ini made %s a store:\n%s", victim, out)
	}
	res, code := h.install("nss")
	for id, want := range map[string]string{"nss:" + symDB: "symbolic link", "nss:" + hardDB: "hard link"} {
		if code == 0 || res[id].Status != outcomeError || !strings.Contains(res[id].Detail, want) {
			t.Errorf("install %s: %+v; want an error naming the %s", id, res[id], want)
		}
	}
	h.noRootLoads("install")

	p := h.startAgent(stores.KindNSS)
	p.waitStore("nss:/etc/pki/nssdb", "compliant")
	p.waitStore("nss:"+symDB, "error")
	p.waitStore("nss:"+hardDB, "error")
	time.Sleep(3 * time.Second)
	h.noRootLoads("agent")
	p.stop()
	if after := snapshotDir(t, h.host(victim)); !sameMap(before, after) {
		t.Errorf("the root-owned database changed through the user's links:\nbefore %v\nafter  %v", before, after)
	}
}

// Issue 9 item 3. The user's module (loaded by their own certutil, which
// is allowed: it runs as them) waits for that certutil to exit and then
// swaps the database directory for a symbolic link to a root-owned
// directory. Whatever anchorwatch does to the files afterwards (putting
// back their mode and owner) must go through what it opened, not through
// the path: the root-owned files keep their mode and owner.
func TestHostileSwapAfterCertutil(t *testing.T) {
	h := newHostileHost(t)
	victim := nsstest.NewDB(t, h.root, "/srv/victim")
	os.Chmod(h.host(victim+"/pkcs11.txt"), 0o644)
	before := snapshotDir(t, h.host(victim))
	db := h.userDB(h.home + "/.pki/nssdb")
	so := h.module("SWAP", `DBDIR="`+h.host(db)+`"`, `VICTIM="`+h.host(victim)+`"`)
	h.plantModule(db, so)
	h.as("chmod 600 " + h.host(db) + "/pkcs11.txt")

	res, _ := h.install("nss")
	t.Logf("install: %+v", res["nss:"+db])
	h.noRootLoads("install")
	if after := snapshotDir(t, h.host(victim)); !sameMap(before, after) {
		t.Fatalf("root changed files it was led to by a swapped directory:\nbefore %v\nafter  %v", before, after)
	}

	// Again through the agent, on a fresh database.
	h.as("rm -rf " + h.host(db) + " " + h.host(db) + ".moved")
	h.userDB(db)
	h.plantModule(db, so)
	h.as("chmod 600 " + h.host(db) + "/pkcs11.txt")
	p := h.startAgent(stores.KindNSS)
	p.waitStore("nss:/etc/pki/nssdb", "compliant")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Lstat(h.host(db) + ".moved"); err == nil {
			break // the trap went off
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent never ran certutil on the user's database")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	p.stop()
	h.noRootLoads("agent")
	if after := snapshotDir(t, h.host(victim)); !sameMap(before, after) {
		t.Fatalf("root changed files it was led to by a swapped directory:\nbefore %v\nafter  %v", before, after)
	}
}

// fifoTraps plants, as the user, FIFOs where a root process opens files —
// a profiles.ini, a cert9.db, the cacerts of a JDK the user unpacked
// under /opt — (a plain open blocks on them forever) and a 20 GB sparse
// cacerts in a second JDK. It returns the ids of the trapped stores with
// what their error must say, and the user's untrapped profile.
func (h *hostileHost) fifoTraps() (trapped map[string]string, profile string) {
	ffDir := h.home + "/.mozilla/firefox"
	profile = h.userDB(ffDir + "/real.default")
	fifoDB := h.home + "/.pki/nssdb"
	jdk := "/opt/" + h.user.Name + "-jdk"
	sparse := "/opt/" + h.user.Name + "-jdk2"
	for _, d := range []string{fifoDB, jdk + "/lib/security", sparse + "/lib/security"} {
		os.MkdirAll(h.host(d), 0o755)
	}
	h.give(h.home)
	h.give(jdk)
	h.give(sparse)
	h.as("mkfifo " + h.host(ffDir+"/profiles.ini") + " " + h.host(fifoDB+"/cert9.db") + " " + h.host(jdk+"/lib/security/cacerts") +
		" && truncate -s 20G " + h.host(sparse+"/lib/security/cacerts"))
	return map[string]string{
		"nss:" + fifoDB:                            "FIFO",
		"java:" + jdk + "/lib/security/cacerts":    "FIFO",
		"java:" + sparse + "/lib/security/cacerts": "limit",
	}, profile
}

// Issue 9 item 4. With the FIFO and huge-file traps planted, audit and
// install must finish, report those stores as errors and do their job
// everywhere else.
func TestHostileFIFOsAndHugeFiles(t *testing.T) {
	h := newHostileHost(t)
	trapped, profile := h.fifoTraps()
	st := h.statuses()
	for id, want := range trapped {
		if st[id][0] != "error" || !strings.Contains(st[id][1], want) {
			t.Errorf("audit %s: %v; want an error saying %s", id, st[id], want)
		}
	}
	res, _ := h.install("nss,java")
	if res["nss:/etc/pki/nssdb"].Status != outcomeChanged || res["nss:"+profile].Status != outcomeChanged {
		t.Errorf("install did not do its job around the traps: %+v", res)
	}
	for id := range trapped {
		if res[id].Status != outcomeError {
			t.Errorf("install %s: %+v, want error", id, res[id])
		}
	}
}

// Issue 9 item 4, through the agent: with the same traps, the agent heals
// every other store (and drift in them), reports the trapped ones as
// errors, and SIGTERM still ends it.
func TestHostileAgentAroundFIFOs(t *testing.T) {
	h := newHostileHost(t)
	trapped, profile := h.fifoTraps()
	p := h.startAgent(stores.KindNSS, stores.KindJava)
	p.waitStore("nss:/etc/pki/nssdb", "compliant")
	p.waitStore("nss:"+profile, "compliant")
	for id, want := range trapped {
		if d := p.waitStore(id, "error"); !strings.Contains(d, want) {
			t.Errorf("agent: %s: %q; want it to say %s", id, d, want)
		}
	}
	// Drift in a healthy store is healed, traps or not.
	label := stores.Label(h.ca.Cert)
	nsstest.Run(t, nil, "-D", "-d", "sql:"+h.host("/etc/pki/nssdb"), "-n", label)
	deadline := time.Now().Add(60 * time.Second)
	for nsstest.Trust(t, h.root, "/etc/pki/nssdb", label) != "C,," {
		if time.Now().After(deadline) {
			t.Fatal("the agent did not heal the system database")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("SIGTERM ended the agent in %s", p.stop())
}

// Issue 9 item 4, the SIGTERM half, for the CLI: with a FIFO planted as
// a JDK's cacerts, audit used to block in open() during discovery and,
// stuck there, ignore SIGTERM. It must end (it finishes at once now, or
// on the signal).
func TestHostileCLIEndsOnSIGTERM(t *testing.T) {
	h := newHostileHost(t)
	jdk := "/opt/" + h.user.Name + "-jdk"
	os.MkdirAll(h.host(jdk+"/lib/security"), 0o755)
	h.give(jdk)
	h.as("mkfifo " + h.host(jdk+"/lib/security/cacerts"))
	cmd := exec.Command(h.bin, "audit", "--ca", h.caFile, "--root", h.root)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(time.Second)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("audit ignored SIGTERM for 30 s")
	}
}

// Issue 9 item 5. The user copies a fresh key4.db over theirs: NSS then
// finds no valid MAC for the trust of our CA and no longer trusts it
// (tstclnt, NSS's own TLS client, refuses a server it issued), although
// cert9.db still holds the trust rows. audit must say so, and the agent
// must heal it so that tstclnt trusts the server again.
func TestHostileFreshKey4DB(t *testing.T) {
	h := newHostileHost(t)
	db := h.userDB(h.home + "/.pki/nssdb")
	if res, _ := h.install("nss"); res["nss:"+db].Status != outcomeChanged {
		t.Fatalf("install: %+v", res["nss:"+db])
	}
	addr := serveTLS(t, h)
	if out, err := h.tstclnt(db, addr); err != nil {
		t.Fatalf("after install tstclnt does not trust the server: %v\n%s", err, out)
	}
	fresh := h.home + "/fresh"
	h.as("mkdir " + h.host(fresh) + " && certutil -N -d sql:" + h.host(fresh) + " --empty-password && cp " + h.host(fresh) + "/key4.db " + h.host(db) + "/key4.db")
	if out, err := h.tstclnt(db, addr); err == nil {
		t.Fatalf("with a fresh key4.db tstclnt still trusts the server: the trap did not work\n%s", out)
	}
	if st := h.statuses()["nss:"+db]; st[0] != string(stores.StatusUntrusted) {
		t.Errorf("audit with a fresh key4.db: %v, want untrusted", st)
	}

	p := h.startAgent(stores.KindNSS)
	p.waitStore("nss:"+db, "compliant")
	if out, err := h.tstclnt(db, addr); err != nil {
		t.Fatalf("after the agent healed it tstclnt does not trust the server: %v\n%s", err, out)
	}
	// And again while the agent runs.
	h.as("cp " + h.host(fresh) + "/key4.db " + h.host(db) + "/key4.db")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := h.tstclnt(db, addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent did not heal the database after key4.db was replaced")
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.stop()
}

// serveTLS serves a leaf the host's CA issued for 127.0.0.1.
func serveTLS(t *testing.T, h *hostileHost) string {
	t.Helper()
	addr, _ := testpki.ServeTLS(t, h.ca.Leaf(t, "127.0.0.1"))
	return addr
}

// tstclnt connects NSS's own TLS client, run as the user on their
// database db (inside the root), to addr; nil when it trusted the server.
func (h *hostileHost) tstclnt(db, addr string) (string, error) {
	h.t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := h.user.Cmd("tstclnt", "-h", host, "-p", port, "-d", "sql:"+h.host(db), "-V", "tls1.2:tls1.3")
	cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	cmd.SysProcAttr, cmd.Env, cmd.Dir = h.user.Cmd("true").SysProcAttr, h.user.Cmd("true").Env, "/"
	out, err := cmd.CombinedOutput()
	if err == nil && !strings.Contains(string(out), "anchorwatch-ok") {
		err = errors.New("no answer from the server")
	}
	return string(out), err
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
