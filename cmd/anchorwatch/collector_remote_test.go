package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/api/client"
	"github.com/anchorwatch/anchorwatch/server/devices"
	"github.com/anchorwatch/anchorwatch/server/servertest"
)

// collectorSightings sums the sightings of every device the collector holds.
func collectorSightings(t *testing.T, c *servertest.Collector) int64 {
	t.Helper()
	ctx := context.Background()
	d, err := devices.Open(ctx, c.Store.DB(), c.Store.ReadDB(), c.Store.Dialect())
	if err != nil {
		t.Fatal(err)
	}
	all, err := d.List(ctx, devices.Filter{Statuses: api.DeviceStatuses()})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, dev := range all {
		n += dev.Sightings
	}
	return n
}

// TestCollectorIngestRemote sends evidence to a real collector over its
// API: pinned by fingerprint or verified with --ca-cert, resumed where it
// stopped, and exactly once across a run whose acknowledgements were lost.
func TestCollectorIngestRemote(t *testing.T) {
	c := servertest.StartCollector(t, servertest.Options{})
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	state := filepath.Join(dir, "state.json")
	lines := 0
	add := func(n int) {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString(squidLine(lines, lines%4))
			lines++
		}
		appendFile(t, log, b.String())
	}
	cli := func(url string, extra ...string) (string, string, int) {
		args := append([]string{"collector", "--data-dir", dir, "ingest", "--url", url, "--token", c.AdminToken, "--state", state,
			"--format", "squid-access"}, extra...)
		return runCLI(t, newRootCmd(), append(args, log)...)
	}

	add(1000)
	if out, errOut, code := cli(c.URL, "--fingerprint", c.Fingerprint); code != 0 || !strings.Contains(out, "sent 1 batches") {
		t.Fatalf("remote ingest: %d\n%s%s", code, out, errOut)
	}
	if n := collectorSightings(t, c); n != 1000 {
		t.Errorf("after the first run: %d sightings, want 1000", n)
	}
	// Nothing new: nothing sent.
	if out, errOut, code := cli(c.URL, "--ca-cert", c.CertFile); code != 0 || !strings.Contains(out, "nothing new") || !strings.Contains(out, "sent 0 batches") {
		t.Fatalf("second run: %d\n%s%s", code, out, errOut)
	}

	// A run whose batch reaches the collector but whose answers are lost
	// (a proxy in front answers 502 after the collector stored it) fails
	// and keeps the batch; the next run, after the file grew, re-sends it
	// (a duplicate for the collector) and then the new lines.
	target, _ := url.Parse(c.URL)
	var forwarded atomic.Int64
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	rp.ModifyResponse = func(*http.Response) error { forwarded.Add(1); return errors.New("answer lost") }
	rp.ErrorLog = nil
	lossy := httptest.NewServer(rp)
	defer lossy.Close()
	add(500)
	if out, errOut, code := cli(lossy.URL); code != 1 || !strings.Contains(errOut, "sent again by the next run") {
		t.Fatalf("run with lost answers: %d\n%s%s", code, out, errOut)
	}
	if forwarded.Load() < 2 {
		t.Errorf("the lost batch was sent %d times, want retries", forwarded.Load())
	}
	if n := collectorSightings(t, c); n != 1500 {
		t.Errorf("after the lossy run: %d sightings, want 1500 (stored once despite the retries)", n)
	}
	add(250)
	if out, errOut, code := cli(c.URL, "--fingerprint", strings.ToLower(strings.ReplaceAll(c.Fingerprint, ":", ""))); code != 0 || !strings.Contains(out, "(1 already there)") {
		t.Fatalf("resumed run: %d\n%s%s", code, out, errOut)
	}
	if n := collectorSightings(t, c); n != 1750 {
		t.Errorf("after the resumed run: %d sightings, want 1750 (each line once)", n)
	}

	// A wrong pin is refused without sending.
	add(10)
	wrong := strings.Repeat("AB:", 31) + "AB"
	if out, errOut, code := cli(c.URL, "--fingerprint", wrong); code != 1 || !strings.Contains(errOut, "does not match --fingerprint") {
		t.Errorf("wrong fingerprint: %d\n%s%s", code, out, errOut)
	}
	if n := collectorSightings(t, c); n != 1750 {
		t.Errorf("a wrongly pinned run stored something: %d sightings", n)
	}
	if _, err := os.Stat(state); err != nil {
		t.Error(err)
	}

	// Usage errors.
	for _, args := range [][]string{
		{"collector", "--data-dir", dir, "ingest", "--token", "x", "--format", "squid-access", log},
		{"collector", "--data-dir", dir, "ingest", "--url", c.URL, "--format", "squid-access", log},
		{"collector", "--data-dir", dir, "ingest", "--url", "ftp://x", "--token", "x", "--format", "squid-access", log},
		{"collector", "--data-dir", dir, "ingest", "--url", "http://collector.example:8080", "--token", "x", "--format", "squid-access", log},
		{"collector", "--data-dir", dir, "ingest", "--url", c.URL, "--token", "x", "--fingerprint", "zz", "--format", "squid-access", log},
		{"collector", "--data-dir", dir, "ingest", "--url", c.URL, "--token", "x", "--fingerprint", wrong, "--ca-cert", c.CertFile, "--format", "squid-access", log},
		{"collector", "--data-dir", dir, "--db", filepath.Join(dir, "x.db"), "ingest", "--url", c.URL, "--token", "x", "--format", "squid-access", log},
	} {
		if out, errOut, code := runCLI(t, newRootCmd(), args...); code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s%s", args, code, out, errOut)
		}
	}
}

// TestRemoteRetryable: a remote ingest retries what may pass later (a
// network error, 5xx, 429) and decides from the error's type, never its
// text: a refused certificate, a pin mismatch, an answer that does not
// decode and a refusal by the collector are not retried.
func TestRemoteRetryable(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"network", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"collector busy", fmt.Errorf("POST x: %w", &client.APIError{Status: 503, Collector: true}), true},
		{"proxy 502", fmt.Errorf("POST x: %w", &client.APIError{Status: 502}), true},
		{"too many", fmt.Errorf("POST x: %w", &client.APIError{Status: 429, Collector: true}), true},
		{"refused batch", fmt.Errorf("POST x: %w", &client.APIError{Status: 400, Collector: true}), false},
		{"pin mismatch", fmt.Errorf("POST x: %w", &client.PinError{Pin: strings.Repeat("a", 64), Leaf: strings.Repeat("b", 64)}), false},
		{"bad answer", fmt.Errorf("POST x: %w: %w", client.ErrBadAnswer, errors.New("unexpected end of JSON input")), false},
	} {
		if got := retryable(tt.err); got != tt.want {
			t.Errorf("%s: retryable = %v, want %v", tt.name, got, tt.want)
		}
	}
	// A real refusal: a collector whose certificate the system roots do
	// not know.
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	cl, err := client.New(client.Config{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.PostObservations(context.Background(), "x", api.ObservationBatch{BatchID: "b"}); err == nil || retryable(err) {
		t.Errorf("an untrusted collector certificate: %v, retryable %v", err, retryable(err))
	}
	pinned := explainPin(fmt.Errorf("POST x: %w", &client.PinError{Pin: strings.Repeat("a", 64), Leaf: strings.Repeat("b", 64)}))
	if !errors.Is(pinned, client.ErrPinMismatch) || !strings.Contains(pinned.Error(), "--fingerprint") {
		t.Errorf("pin mismatch explained as %v", pinned)
	}
}
