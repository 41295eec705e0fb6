package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server"
	"github.com/anchorwatch/anchorwatch/server/servertest"
)

// waitPolicy sends GET /api/v1/policy/wait?serial=held as an agent does.
func waitPolicy(t *testing.T, client *http.Client, base, key string, held int64) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s%s?serial=%d", base, api.PathPolicyWait, held), nil)
	req.Header.Set(server.NodeKeyHeader, key)
	resp, err := client.Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestPolicyWait: a wait returns at once when a newer serial is served,
// holds until an upload wakes it otherwise, and answers 204 when its
// hold passes with nothing new.
func TestPolicyWait(t *testing.T) {
	opts := servertest.Options{Config: server.Config{PolicyWaitHold: 2 * time.Second}}
	forEachBackend(t, opts, func(t *testing.T, c *servertest.Collector) {
		key, _ := c.Enroll(t, facts("w"))
		start := time.Now()
		if code, _, body := waitPolicy(t, c.Client(), c.URL, key, 0); code != http.StatusNoContent || time.Since(start) < 1500*time.Millisecond {
			t.Fatalf("no policy, held %v: %d %s", time.Since(start), code, body)
		}
		type answer struct {
			code int
			body []byte
			at   time.Time
		}
		const n = 20
		got := make(chan answer, n)
		for i := 0; i < n; i++ {
			go func() {
				code, _, body := waitPolicy(t, c.Client(), c.URL, key, 0)
				got <- answer{code, body, time.Now()}
			}()
		}
		waitGauge(t, c, n)
		uploaded := time.Now()
		if code, body := c.Do(t, "PUT", api.PathPolicy, c.AdminToken, signPolicy(t, 3)); code != 200 {
			t.Fatalf("upload: %d %s", code, body)
		}
		for i := 0; i < n; i++ {
			a := <-got
			var wr api.PolicyWaitResponse
			if a.code != 200 || json.Unmarshal(a.body, &wr) != nil || wr.PolicySerial != 3 {
				t.Fatalf("woken waiter: %d %s", a.code, a.body)
			}
			if d := a.at.Sub(uploaded); d > time.Second {
				t.Errorf("waiter answered %v after the upload", d)
			}
		}
		// Behind the served serial: answered at once.
		start = time.Now()
		if code, _, body := waitPolicy(t, c.Client(), c.URL, key, 2); code != 200 || !strings.Contains(string(body), `"policy_serial":3`) || time.Since(start) > time.Second {
			t.Fatalf("behind: %d %s after %v", code, body, time.Since(start))
		}
		for _, bad := range []string{"", "x", "-1"} {
			req, _ := http.NewRequest("GET", c.URL+api.PathPolicyWait+"?serial="+bad, nil)
			req.Header.Set(server.NodeKeyHeader, key)
			resp, err := c.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 400 {
				t.Errorf("serial=%q: %d, want 400", bad, resp.StatusCode)
			}
		}
		for _, k := range []string{"", "awn_unknown", c.ViewerToken} {
			if code, _, body := waitPolicy(t, c.Client(), c.URL, k, 0); code != 401 {
				t.Errorf("node key %.8q: %d %s, want 401", k, code, body)
			}
		}
		metric(t, c, `anchorwatch_policy_waits_total{result="new_serial"} 21`)
	})
}

// TestPolicyWaitCap: past MaxPolicyWaiters a wait is refused with 503
// and a Retry-After, and the waiters held are not disturbed.
func TestPolicyWaitCap(t *testing.T) {
	c := servertest.StartCollector(t, servertest.Options{Config: server.Config{MaxPolicyWaiters: 3, PolicyWaitHold: 3 * time.Second}})
	key, _ := c.Enroll(t, facts("cap"))
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, _, body := waitPolicy(t, c.Client(), c.URL, key, 0); code != http.StatusNoContent {
				t.Errorf("held waiter: %d %s", code, body)
			}
		}()
	}
	waitGauge(t, c, 3)
	code, hdr, body := waitPolicy(t, c.Client(), c.URL, key, 0)
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || errCode(t, body) != api.ErrUnavailable {
		t.Fatalf("over the cap: %d Retry-After=%q %s", code, hdr.Get("Retry-After"), body)
	}
	wg.Wait()
	metric(t, c, `anchorwatch_policy_waits_total{result="refused"} 1`)
	metric(t, c, `anchorwatch_policy_waits_total{result="timeout"} 3`)
}

// TestPolicyWaitOtherCollector: a policy published on one collector (or
// written straight into the database) wakes the waiters of another
// collector over the same database within its poll interval.
func TestPolicyWaitOtherCollector(t *testing.T) {
	forEachBackend(t, servertest.Options{}, func(t *testing.T, c *servertest.Collector) {
		other, err := server.New(server.Config{Store: c.Store, PolicyPollInterval: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(other)
		t.Cleanup(func() { hs.Close(); other.Close() })
		key, _ := c.Enroll(t, facts("other"))
		done := make(chan int, 1)
		go func() {
			code, _, _ := waitPolicy(t, hs.Client(), hs.URL, key, 0)
			done <- code
		}()
		time.Sleep(300 * time.Millisecond) // the wait is held (and the gauge of the other collector is not c's)
		uploaded := time.Now()
		if code, body := c.Do(t, "PUT", api.PathPolicy, c.AdminToken, signPolicy(t, 5)); code != 200 {
			t.Fatalf("upload: %d %s", code, body)
		}
		select {
		case code := <-done:
			if code != 200 {
				t.Fatalf("woken on the other collector: %d", code)
			}
			t.Logf("woken %v after the upload on the other collector", time.Since(uploaded))
		case <-time.After(5 * time.Second):
			t.Fatal("the other collector's waiter was not woken within 5s")
		}
	})
}

// waitGauge waits until the collector counts n policy waiters.
func waitGauge(t *testing.T, c *servertest.Collector, n int) {
	t.Helper()
	want := fmt.Sprintf("anchorwatch_policy_waiters %d\n", n)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := c.Do(t, "GET", "/metrics", c.ViewerToken, nil)
		if strings.Contains(string(body), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never %q", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metric fails unless the collector's /metrics has line.
func metric(t *testing.T, c *servertest.Collector, line string) {
	t.Helper()
	_, body := c.Do(t, "GET", "/metrics", c.ViewerToken, nil)
	if !strings.Contains(string(body), line+"\n") {
		t.Errorf("/metrics lacks %q", line)
	}
}

// TestPolicyWaitDrain: Drain (registered with http.Server.Shutdown) ends
// the waits held and refuses new ones with 503 and a Retry-After, so a
// graceful shutdown is not held up by agents waiting for a policy.
func TestPolicyWaitDrain(t *testing.T) {
	c := servertest.StartCollector(t, servertest.Options{})
	key, _ := c.Enroll(t, facts("drain"))
	type answer struct {
		code  int
		retry string
	}
	got := make(chan answer, 1)
	go func() {
		code, hdr, _ := waitPolicy(t, c.Client(), c.URL, key, 0)
		got <- answer{code, hdr.Get("Retry-After")}
	}()
	waitGauge(t, c, 1)
	start := time.Now()
	c.Server.Drain()
	select {
	case a := <-got:
		if a.code != http.StatusServiceUnavailable || a.retry == "" {
			t.Fatalf("held wait on drain: %d Retry-After=%q", a.code, a.retry)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held wait was not answered on drain")
	}
	if code, hdr, _ := waitPolicy(t, c.Client(), c.URL, key, 0); code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || time.Since(start) > 5*time.Second {
		t.Fatalf("new wait after drain: %d Retry-After=%q after %v", code, hdr.Get("Retry-After"), time.Since(start))
	}
}
