package loadgen_test

import (
	"context"
	"path/filepath"
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
	if sum.Hosts != 40 || sum.ByStatus[store.StatusPending] != 0 || len(sum.ByStoreKind) == 0 {
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
