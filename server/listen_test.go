package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server"
	"github.com/anchorwatch/anchorwatch/server/store"
)

// serve runs server.ListenAndServe in the background and returns what it
// announced and the channel of its result.
func serve(t *testing.T, ctx context.Context, cfg server.ListenConfig) (server.Listening, <-chan error) {
	t.Helper()
	ready := make(chan server.Listening, 1)
	cfg.Addr = "127.0.0.1:0"
	cfg.Ready = func(l server.Listening) { ready <- l }
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	done := make(chan error, 1)
	go func() { done <- server.ListenAndServe(ctx, cfg) }()
	select {
	case l := <-ready:
		return l, done
	case err := <-done:
		t.Fatalf("ListenAndServe: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("ListenAndServe did not start")
	}
	return server.Listening{}, nil
}

// pinnedClient trusts only the certificate in certFile.
func pinnedClient(t *testing.T, certFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in " + certFile)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func waitDone(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(server.ShutdownTimeout + 5*time.Second):
		t.Fatal("ListenAndServe did not return after its context ended")
	}
	return nil
}

// TestListenAndServeTLSByDefault: the real collector, served the way
// `collector serve` serves it, speaks TLS (1.2 or later) with a
// self-signed certificate made in the data directory and announced with
// its fingerprint, refuses plain HTTP, reuses the certificate on the next
// start, and returns nil once its context ends.
func TestListenAndServeTLSByDefault(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := server.New(server.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for i, wantCreated := range []bool{true, false} {
		ctx, cancel := context.WithCancel(context.Background())
		l, done := serve(t, ctx, server.ListenConfig{Handler: srv, SelfSignedDir: dir})
		if !strings.HasPrefix(l.URL, "https://127.0.0.1:") || l.SelfSigned != filepath.Join(dir, server.SelfSignedCert) || l.Created != wantCreated {
			t.Errorf("start %d: %+v", i, l)
		}
		if fp, err := server.CertFingerprint(l.SelfSigned); err != nil || fp != l.Fingerprint {
			t.Errorf("announced fingerprint %s, file's %s (%v)", l.Fingerprint, fp, err)
		}
		resp, err := pinnedClient(t, l.SelfSigned).Get(l.URL + api.PathPolicy)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET policy without a node key over TLS: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
		}
		plain, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + strings.TrimPrefix(l.URL, "https://") + api.PathPolicy)
		if err == nil {
			plain.Body.Close()
			if plain.StatusCode != http.StatusBadRequest {
				t.Errorf("plain HTTP to the TLS listener: %d, want 400", plain.StatusCode)
			}
		}
		cancel()
		if err := waitDone(t, done); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}
}

// slowHandler answers after a while, and counts the Drain calls a
// shutdown makes (as the collector drains its policy waits).
type slowHandler struct {
	started chan struct{}
	drained atomic.Int32
}

func (h *slowHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	close(h.started)
	time.Sleep(700 * time.Millisecond)
	io.WriteString(w, "finished")
}

func (h *slowHandler) Drain() { h.drained.Add(1) }

// TestListenAndServeGracefulShutdown: when the context ends, a request
// under way finishes, the handler is drained at once, ListenAndServe
// returns nil and the address no longer accepts connections.
func TestListenAndServeGracefulShutdown(t *testing.T) {
	h := &slowHandler{started: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, done := serve(t, ctx, server.ListenConfig{Handler: h, SelfSignedDir: t.TempDir()})
	client := pinnedClient(t, l.SelfSigned)
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := client.Get(l.URL + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-h.started
	cancel()
	if err := waitDone(t, done); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if r := <-got; r.err != nil || r.body != "finished" {
		t.Errorf("the request under way: %q, %v", r.body, r.err)
	}
	if n := h.drained.Load(); n != 1 {
		t.Errorf("Drain called %d times, want 1", n)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(l.URL, "https://"), 2*time.Second); err == nil {
		c.Close()
		t.Error("the address still accepts connections after the shutdown")
	}
}

// TestListenAndServeRefuses: an unusable certificate is a *TLSError (a
// usage error for the CLI) and plain HTTP with a certificate is refused,
// both before anything listens.
func TestListenAndServeRefuses(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	called := false
	cfg := server.ListenConfig{Addr: "127.0.0.1:0", Handler: http.NotFoundHandler(), CertFile: bad, KeyFile: bad,
		Ready: func(server.Listening) { called = true }}
	var te *server.TLSError
	if err := server.ListenAndServe(context.Background(), cfg); !errors.As(err, &te) {
		t.Errorf("bad certificate: %v, want a *TLSError", err)
	}
	cfg.Insecure = true
	if err := server.ListenAndServe(context.Background(), cfg); err == nil || errors.As(err, &te) {
		t.Errorf("plain HTTP with a certificate: %v", err)
	}
	if called {
		t.Error("Ready was called for a refused configuration")
	}
}
