package loadgen_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/server/loadgen"
	"github.com/anchorwatch/anchorwatch/server/servertest"
	"github.com/anchorwatch/anchorwatch/server/store"
)

func TestRunAgainstCollector(t *testing.T) {
	c := servertest.StartCollector(t, servertest.Options{})
	res, err := loadgen.Run(context.Background(), loadgen.Config{URL: c.URL, EnrollSecret: c.EnrollSecret, Client: c.Client(),
		Hosts: 40, Rate: 200, Duration: time.Second, Concurrency: 8, FullRatio: 0.5, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Enrolled != 40 || res.Acked == 0 || res.Errors != 0 || res.Full == 0 {
		t.Fatalf("run: %s (first error %q)", res, res.FirstError)
	}
	// Every enrolled host sent its first full report in the warm-up.
	sum, err := c.Store.Summary(context.Background(), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Hosts != 40 || sum.ByStatus[string(store.StatusPending)] != 0 || len(sum.ByStoreKind) == 0 {
		t.Fatalf("summary after load: %+v", sum)
	}
	ev, err := c.Store.Events(context.Background(), store.EventFilter{Limit: 5})
	if err != nil || len(ev.Events) == 0 {
		t.Fatalf("drift produced no events: %+v %v", ev, err)
	}
}

func TestRunRefusesBadSecret(t *testing.T) {
	c := servertest.StartCollector(t, servertest.Options{InsecureHTTP: true})
	_, err := loadgen.Run(context.Background(), loadgen.Config{URL: c.URL, EnrollSecret: "aws_wrong", Hosts: 3, Duration: time.Second})
	if err == nil {
		t.Fatal("loadgen ran with a wrong enroll secret")
	}
}

func TestSeed(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := loadgen.Seed(context.Background(), st, 2500, 10, nil); err != nil {
		t.Fatal(err)
	}
	sum, err := st.Summary(context.Background(), time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Hosts != 2500 || sum.Compliant == 0 || sum.Compliant == 2500 || sum.Offline == 0 {
		t.Fatalf("seeded summary: %+v", sum)
	}
	got, _ := st.Aggregates(context.Background())
	want, _ := st.RecountAggregates(context.Background())
	if len(got) != len(want) {
		t.Fatalf("aggregates %d rows, recount %d", len(got), len(want))
	}
}

// TestSaturateFindsTheLimit raises the offered rate against a real
// collector until a step fails, and reports the best step that held;
// against a handler slower than the latency bound no step holds.
func TestSaturateFindsTheLimit(t *testing.T) {
	c := servertest.StartCollector(t, servertest.Options{})
	var steps []loadgen.Step
	var progress []loadgen.Progress
	var mu sync.Mutex
	res, err := loadgen.Saturate(context.Background(), loadgen.SaturateConfig{
		Config: loadgen.Config{URL: c.URL, EnrollSecret: c.EnrollSecret, Client: c.Client(), Hosts: 50, Concurrency: 64, Seed: 2,
			Progress: func(p loadgen.Progress) { mu.Lock(); progress = append(progress, p); mu.Unlock() }},
		StartRate: 50, Factor: 2, StepDuration: 1500 * time.Millisecond, MaxSteps: 3, Refine: -1,
		MaxP99: 2 * time.Second, // the mechanism, not this (shared) machine's speed
		Step:   func(s loadgen.Step) { steps = append(steps, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", res)
	if len(res.Steps) == 0 || len(steps) != len(res.Steps) || res.Steps[0].Offered != 50 {
		t.Fatalf("steps %+v", res.Steps)
	}
	if !res.Max.Held || res.Max.Achieved < 40 {
		t.Errorf("no step held at 50 reports/s against a real collector: %s", res)
	}
	mu.Lock()
	n := len(progress)
	mu.Unlock()
	if n == 0 {
		t.Error("no progress reported during a run of several seconds")
	}

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/api/v1/report" && r.Header.Get("X-Warm") == "" {
			time.Sleep(150 * time.Millisecond)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok","node_key":"awn_x","host_id":1}`)
	}))
	defer slow.Close()
	res, err = loadgen.Saturate(context.Background(), loadgen.SaturateConfig{
		Config:    loadgen.Config{URL: slow.URL, EnrollSecret: "aws_x", Hosts: 5, Concurrency: 16},
		StartRate: 20, StepDuration: time.Second, MaxSteps: 2, Refine: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Max.Held || len(res.Steps) != 1 || !strings.Contains(res.Steps[0].Why, "p99") {
		t.Errorf("a handler slower than 100 ms held: %s", res)
	}
}
