package agent

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/stores"
	_ "github.com/anchorwatch/anchorwatch/stores/all"
	"github.com/anchorwatch/anchorwatch/stores/java/javatest"
	"github.com/anchorwatch/anchorwatch/stores/nss/nsstest"
)

// signedPolicy signs a policy installing cas with the given serial.
func signedPolicy(t testing.TB, serial int64, signer *x509.Certificate, key crypto.Signer, extra map[string]any, cas ...*x509.Certificate) []byte {
	t.Helper()
	var anchors []any
	for _, c := range cas {
		anchors = append(anchors, map[string]any{"pem": string(testpki.PEM(c))})
	}
	doc := map[string]any{"serial": serial, "anchors": anchors, "report_unknown_roots": true}
	for k, v := range extra {
		doc[k] = v
	}
	b, _ := json.Marshal(doc)
	blob, err := policy.Sign(b, signer, key)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

// sandbox is a root with a Debian JDK 17 keystore and an NSS database.
type sandbox struct {
	root    string
	javaKS  string // host path of the JKS
	nssDir  string // inside root
	keytool string
}

func newSandbox(t testing.TB) sandbox {
	t.Helper()
	root := t.TempDir()
	rt, err := javatest.DebianJDK17(root)
	if err != nil {
		t.Fatal(err)
	}
	jdk, err := javatest.FindJDK(17)
	if err != nil {
		t.Fatal(err)
	}
	nsstest.NewDB(t, root, "/etc/pki/nssdb")
	return sandbox{root: root, javaKS: filepath.Join(root, rt.Store), nssDir: "/etc/pki/nssdb", keytool: jdk.Keytool()}
}

// recorder collects the events an agent emits.
type recorder struct {
	mu   sync.Mutex
	cond *sync.Cond
	evs  []api.Event
	ch   chan api.Event
}

func newRecorder(ctx context.Context) *recorder {
	r := &recorder{ch: make(chan api.Event, 1024)}
	r.cond = sync.NewCond(&r.mu)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-r.ch:
				r.mu.Lock()
				r.evs = append(r.evs, e)
				r.cond.Broadcast()
				r.mu.Unlock()
			}
		}
	}()
	return r
}

// waitCount blocks until n events match (no polling delay: for the
// latency benchmarks).
func (r *recorder) waitCount(typ api.EventType, storePrefix string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for countEvents(r.evs, typ, storePrefix, "") < n {
		r.cond.Wait()
	}
}

func (r *recorder) all() []api.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]api.Event(nil), r.evs...)
}

// waitFor polls cond until it holds; the generous limit only keeps a
// broken agent from hanging the test (no timing is asserted).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func countEvents(evs []api.Event, typ api.EventType, storePrefix, fp string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ && strings.HasPrefix(e.StoreID, storePrefix) && (fp == "" || e.SHA256 == fp) {
			n++
		}
	}
	return n
}

type harness struct {
	sb       sandbox
	coll     *collector
	signer   *x509.Certificate
	key      crypto.Signer
	ca       *x509.Certificate
	cfg      *Config
	rec      *recorder
	reload   chan struct{}
	cancel   context.CancelFunc
	done     chan error
	stateDir string
}

// agentOpts vary how a test agent reaches its collector.
type agentOpts struct {
	url   string                // collector URL; default the collector's own
	pinCA bool                  // pin with collector_ca_file instead of collector_fingerprint
	seed  func(stateDir string) // prepares the state directory before the agent starts
	extra map[string]any        // more config keys
	// stateDir reuses a state directory (an agent restarted); default a
	// fresh one.
	stateDir string
	// discover and storeTimeout set Options.Discover and StoreTimeout.
	discover     func(ctx context.Context, env stores.Env, kinds []stores.Kind) ([]stores.Store, []error)
	storeTimeout time.Duration
	// extraStores are found beside the real ones (fakes of stores that
	// cannot run here).
	extraStores []stores.Store
	// logs, when set, receives the agent's log (text, debug level) too.
	logs io.Writer
}

// startAgent runs an agent on sb against coll, pinned to signer.
func startAgent(t testing.TB, sb sandbox, coll *collector, signer *x509.Certificate, kinds ...stores.Kind) *harness {
	t.Helper()
	return startAgentWith(t, sb, coll, signer, agentOpts{}, kinds...)
}

func startAgentWith(t testing.TB, sb sandbox, coll *collector, signer *x509.Certificate, o agentOpts, kinds ...stores.Kind) *harness {
	t.Helper()
	dir := t.TempDir()
	signerFile := filepath.Join(dir, "signer.pem")
	if err := os.WriteFile(signerFile, testpki.PEM(signer), 0o644); err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(dir, "enroll-secret")
	if err := os.WriteFile(secretFile, []byte(coll.EnrollSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgMap := map[string]any{
		"collector_url": coll.URL, "enroll_secret_file": secretFile, "policy_signer_file": signerFile,
		"state_dir": filepath.Join(dir, "state"), "stores": kinds, "log_level": "debug",
	}
	if o.stateDir != "" {
		cfgMap["state_dir"] = o.stateDir
	}
	if o.url != "" {
		cfgMap["collector_url"] = o.url
	}
	if o.pinCA {
		cfgMap["collector_ca_file"] = coll.CertFile
	} else {
		cfgMap["collector_fingerprint"] = coll.Fingerprint
	}
	for k, v := range o.extra {
		cfgMap[k] = v
	}
	cfgJSON, _ := json.Marshal(cfgMap)
	cfgFile := filepath.Join(dir, "agent.json")
	if err := os.WriteFile(cfgFile, cfgJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	if o.seed != nil {
		if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
			t.Fatal(err)
		}
		o.seed(cfg.StateDir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{sb: sb, coll: coll, signer: signer, cfg: cfg, rec: newRecorder(ctx), reload: make(chan struct{}, 1),
		cancel: cancel, done: make(chan error, 1), stateDir: cfg.StateDir}
	var w io.Writer = io.Discard
	if testing.Verbose() {
		w = testWriter{t}
	}
	if o.logs != nil {
		w = io.MultiWriter(w, o.logs)
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	discover := o.discover
	if len(o.extraStores) > 0 {
		discover = func(ctx context.Context, env stores.Env, kinds []stores.Kind) ([]stores.Store, []error) {
			found, errs := stores.Discover(ctx, env, kinds)
			return append(found, o.extraStores...), errs
		}
	}
	a, err := New(Options{Config: cfg, Root: sb.root, Version: "test", Log: log, Reload: h.reload, Events: h.rec.ch,
		Discover: discover, StoreTimeout: o.storeTimeout})
	if err != nil {
		t.Fatal(err)
	}
	go func() { h.done <- a.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	<-h.done
	h.cancel = nil
}

func (h *harness) poke() {
	select {
	case h.reload <- struct{}{}:
	default:
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// logBuffer collects log lines safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
