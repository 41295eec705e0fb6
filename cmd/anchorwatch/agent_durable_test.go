//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/server/servertest"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/java"
	"github.com/anchorwatch/anchorwatch/stores/java/javatest"
)

// durableHost is the real anchorwatch binary running `agent run` as root
// on a sandbox root holding Debian's JKS, enrolled with a real collector
// whose policy installs one CA. It is killed and started again at will.
type durableHost struct {
	t       *testing.T
	bin     string
	root    string
	cfgFile string
	coll    *servertest.Collector
	ca      string // sha256 of the policy's CA
	ks      *java.Store
	log     string
	cmd     *exec.Cmd
	exited  chan struct{}
}

func newDurableHost(t *testing.T, layout func(root string) ([]javatest.Runtime, error)) *durableHost {
	t.Helper()
	h := &durableHost{t: t, bin: buildAnchorwatch(t), root: t.TempDir(), coll: servertest.StartCollector(t, servertest.Options{})}
	if _, err := layout(h.root); err != nil {
		t.Fatal(err)
	}
	ca := testpki.NewCA(t, "Corp Interception CA")
	h.ca = stores.SHA256(ca.Cert)
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	doc, _ := json.Marshal(map[string]any{"serial": 1, "anchors": []any{map[string]any{"pem": string(testpki.PEM(ca.Cert))}}})
	blob, err := policy.Sign(doc, signer, key)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := h.coll.Do(t, http.MethodPut, api.PathPolicy, h.coll.AdminToken, blob); code != http.StatusOK {
		t.Fatalf("upload policy: %d %s", code, body)
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "enroll-secret")
	if err := os.WriteFile(secret, []byte(h.coll.EnrollSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{
		"collector_url": h.coll.URL, "collector_fingerprint": h.coll.Fingerprint, "enroll_secret_file": secret,
		"policy_signer_file": testpki.WritePEM(t, filepath.Join(dir, "signer.pem"), signer), "state_dir": filepath.Join(dir, "state"),
		"stores": []string{"java"}, "log_level": "debug",
	})
	h.cfgFile = filepath.Join(dir, "agent.json")
	if err := os.WriteFile(h.cfgFile, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	h.log = filepath.Join(dir, "agent.log")
	if h.ks, err = java.Open(stores.Env{Root: h.root}, "/etc/ssl/certs/java/cacerts"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.kill()
		if t.Failed() {
			b, _ := os.ReadFile(h.log)
			t.Logf("agent log (last lines):\n%s", lastLines(string(b), 80))
		}
	})
	return h
}

// start runs the agent binary (its log appended to h.log).
func (h *durableHost) start() {
	h.t.Helper()
	logf, err := os.OpenFile(h.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		h.t.Fatal(err)
	}
	fmt.Fprintf(logf, "---- start %s\n", time.Now().Format(time.RFC3339Nano))
	h.cmd = exec.Command(h.bin, "agent", "run", "--config", h.cfgFile, "--root", h.root)
	h.cmd.Stdout, h.cmd.Stderr = logf, logf
	if err := h.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); logf.Close(); close(done) }(h.cmd, h.exited)
}

// kill SIGKILLs the agent and waits for it to be gone.
func (h *durableHost) kill() {
	if h.cmd == nil {
		return
	}
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.exited
	h.cmd = nil
}

// hasCA reports whether the JKS holds the policy's CA, trusted.
func (h *durableHost) hasCA() bool {
	as, err := h.ks.List(context.Background())
	if err != nil {
		return false
	}
	for _, a := range as {
		if a.SHA256 == h.ca && a.TrustedServerAuth {
			return true
		}
	}
	return false
}

// remove deletes the CA from the JKS, as another program would.
func (h *durableHost) remove() {
	h.t.Helper()
	if _, err := h.ks.Remove(context.Background(), []string{h.ca}, stores.Options{Watched: true}); err != nil {
		h.t.Fatal(err)
	}
}

// events returns every event the collector stored, through its API.
func (h *durableHost) events() []api.Event {
	h.t.Helper()
	var out []api.Event
	cursor := ""
	for {
		q := url.Values{"limit": {"500"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		code, body := h.coll.Do(h.t, http.MethodGet, api.PathEvents+"?"+q.Encode(), h.coll.ViewerToken, nil)
		if code != http.StatusOK {
			h.t.Fatalf("events: %d %s", code, body)
		}
		var page api.EventList
		if err := json.Unmarshal(body, &page); err != nil {
			h.t.Fatal(err)
		}
		for _, e := range page.Events {
			out = append(out, e.Event)
		}
		if page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
}

// count counts the events of a type about our CA in the Debian JKS.
func (h *durableHost) count(typ api.EventType) int {
	n := 0
	for _, e := range h.events() {
		if e.Type == typ && e.SHA256 == h.ca && e.StoreID == "java:/etc/ssl/certs/java/cacerts" {
			n++
		}
	}
	return n
}

// waitUntil polls cond; the limit only keeps a broken agent from hanging
// the test (no timing is asserted).
func (h *durableHost) waitUntil(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAgentSIGKILLDuringHeal kills the real agent binary with SIGKILL at
// random points of a heal, 100 times: our CA is removed from a real JKS,
// the agent is killed somewhere between noticing nothing yet and having
// delivered the removed/healed pair, and started again. Every removal
// must reach the real collector as one removed and one healed event:
// after 100 kills the collector holds exactly 100 of each.
func TestAgentSIGKILLDuringHeal(t *testing.T) {
	h := newDurableHost(t, func(root string) ([]javatest.Runtime, error) {
		rt, err := javatest.DebianJDK17(root)
		return []javatest.Runtime{rt}, err
	})
	h.start()
	h.waitUntil("the first install reported", func() bool { return h.count(api.EventInstalled) == 1 })
	// How long a heal takes here, from the removal to the CA being back
	// (median of 5): kills are spread over 1.5 times that.
	var took []time.Duration
	for i := 0; i < 5; i++ {
		start := time.Now()
		h.remove()
		h.waitUntil("a heal", h.hasCA)
		took = append(took, time.Since(start))
	}
	sort.Slice(took, func(a, b int) bool { return took[a] < took[b] })
	window := took[2] * 3 / 2
	h.waitUntil("the calibration pairs delivered", func() bool { return h.count(api.EventHealed) == 5 && h.count(api.EventRemoved) == 5 })

	const kills = 100
	healedBeforeKill := 0
	for i := 1; i <= kills; i++ {
		h.remove()
		time.Sleep(time.Duration(rand.Int64N(int64(window))))
		if h.hasCA() {
			healedBeforeKill++
		}
		h.kill()
		h.start()
		h.waitUntil(fmt.Sprintf("kill %d: the pair delivered", i), func() bool {
			return h.hasCA() && h.count(api.EventRemoved) >= 5+i && h.count(api.EventHealed) >= 5+i
		})
	}
	// Let anything re-sent by mistake arrive before counting.
	h.kill()
	h.start()
	time.Sleep(2 * time.Second)
	removed, healed := h.count(api.EventRemoved), h.count(api.EventHealed)
	t.Logf("%d kills within %v of the removal (heal median %v); the store was healed before %d of them; collector: %d removed, %d healed (5 of each before the kills)",
		kills, window, took[2], healedBeforeKill, removed-5, healed-5)
	if removed != 5+kills || healed != 5+kills {
		t.Fatalf("the collector holds %d removed and %d healed events for %d removals", removed-5, healed-5, kills)
	}
	if healedBeforeKill == 0 || healedBeforeKill == kills {
		t.Fatalf("the kills did not land across the heal (healed before %d of %d)", healedBeforeKill, kills)
	}
}

// TestAgentRemoveAndKeytool runs three writers on one JKS and one
// password-less PKCS12 at once: the real agent (healing our CA), an
// operator's `anchorwatch remove` of our CA in a loop (the real CLI), and
// a real keytool adding entries one after another to each keystore. No
// entry keytool added may be lost, and `remove` never gives up: when the
// agent puts the CA back, it says so.
func TestAgentRemoveAndKeytool(t *testing.T) {
	h := newDurableHost(t, javatest.Standard)
	h.start()
	h.waitUntil("the first install reported", func() bool { return h.count(api.EventInstalled) == 1 })
	j, err := javatest.FindJDK(17)
	if err != nil {
		t.Fatal(err)
	}
	keystores := []struct{ path, storetype, password string }{
		{"/etc/ssl/certs/java/cacerts", "JKS", "changeit"},
		{"/usr/lib/jvm/temurin-25-jdk-amd64/lib/security/cacerts", "PKCS12", ""},
	}
	const entries = 15
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	removeOut := make(chan string, 1)
	go func() {
		var bad string
		for ctx.Err() == nil {
			out, err := exec.Command(h.bin, "remove", "--root", h.root, "--stores", "java", "--sha256", h.ca).CombinedOutput()
			if err != nil && !strings.Contains(string(out), "undid it") && bad == "" {
				bad = fmt.Sprintf("%v: %s", err, out)
			}
			time.Sleep(200 * time.Millisecond)
		}
		removeOut <- bad
	}()
	errs := make(chan error, len(keystores))
	dir := t.TempDir()
	for si, st := range keystores {
		go func() {
			for i := 0; i < entries; i++ {
				c := testpki.NewCA(t, fmt.Sprintf("Keytool CA %d-%d", si, i)).Cert
				f := testpki.WritePEM(t, filepath.Join(dir, fmt.Sprintf("kt-%d-%d.pem", si, i)), c)
				out, err := exec.Command(j.Keytool(), "-J-XX:TieredStopAtLevel=1", "-importcert", "-noprompt", "-alias", fmt.Sprintf("kt-%d", i),
					"-file", f, "-keystore", fsroot.Join(h.root, st.path), "-storetype", st.storetype, "-storepass", st.password).CombinedOutput()
				if err != nil {
					errs <- fmt.Errorf("keytool %s kt-%d: %v: %s", st.storetype, i, err, out)
					return
				}
			}
			errs <- nil
		}()
	}
	for range keystores {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	cancel()
	if bad := <-removeOut; bad != "" {
		t.Errorf("anchorwatch remove failed otherwise than undone by the agent: %s", bad)
	}
	if h.count(api.EventRemoved) == 0 {
		t.Error("the agent never healed a removal of the CLI: the writers did not race")
	}
	for _, st := range keystores {
		args := []string{"-list", "-keystore", fsroot.Join(h.root, st.path), "-storetype", st.storetype, "-storepass", st.password}
		out, err := exec.Command(j.Keytool(), args...).CombinedOutput()
		if err != nil {
			t.Fatalf("keytool -list: %v\n%s", err, out)
		}
		lost := 0
		for i := 0; i < entries; i++ {
			if !strings.Contains(string(out), fmt.Sprintf("kt-%d,", i)) {
				lost++
			}
		}
		t.Logf("%s: %d of %d keytool entries kept", st.storetype, entries-lost, entries)
		if lost > 0 {
			t.Errorf("%s: lost %d of %d entries keytool added", st.storetype, lost, entries)
		}
	}
}
