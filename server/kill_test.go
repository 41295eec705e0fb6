package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // AW_BENCH_PPROF
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server"
	"github.com/anchorwatch/anchorwatch/server/store"
	"github.com/anchorwatch/anchorwatch/stores"
)

// childEnv makes the test binary run a collector instead of the tests:
// "MODE|DBURL|ADDRFILE|TLSDIR"; MODE is "collector" or "noop" (a handler
// that answers every report without storing it, on the same HTTP stack);
// TLSDIR empty means plain HTTP.
const childEnv = "ANCHORWATCH_TEST_CHILD_COLLECTOR"

func runChildCollector() {
	f := strings.SplitN(os.Getenv(childEnv), "|", 4)
	mode, dbURL, addrFile, tlsDir := f[0], f[1], f[2], f[3]
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var h http.Handler
	if mode == "noop" {
		h = noopHandler()
	} else {
		st, err := store.Open(context.Background(), dbURL)
		if err != nil {
			fail(err)
		}
		cfg := server.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		cfg.PKIProbeInterval, _ = time.ParseDuration(os.Getenv("AW_BENCH_PKI_INTERVAL")) // pkihealth_bench_test.go
		cfg.BatchWait, _ = time.ParseDuration(os.Getenv("AW_BENCH_BATCH_WAIT"))          // bench_test.go
		srv, err := server.New(cfg)
		if err != nil {
			fail(err)
		}
		h = srv
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	scheme := "http://"
	if tlsDir != "" {
		cert, key, _, err := server.EnsureSelfSigned(tlsDir, nil)
		if err != nil {
			fail(err)
		}
		tc, err := server.TLSConfig(cert, key)
		if err != nil {
			fail(err)
		}
		l = tls.NewListener(l, tc)
		scheme = "https://"
	}
	if addr := os.Getenv("AW_BENCH_PPROF"); addr != "" {
		// Profiling a benchmark's collector: go tool pprof http://ADDR/debug/pprof/profile
		go http.ListenAndServe(addr, nil)
	}
	os.WriteFile(addrFile+".tmp", []byte(scheme+l.Addr().String()), 0o600)
	os.Rename(addrFile+".tmp", addrFile)
	http.Serve(l, h) // until killed
}

// noopHandler decodes nothing and stores nothing: the ceiling of the HTTP
// stack for the benchmarks.
func noopHandler() http.Handler {
	var n atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.PathEnroll, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"node_key":"awn_noop","host_id":%d}`, n.Add(1))
	})
	mux.HandleFunc("POST "+api.PathReport, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok","duplicate":false,"policy_serial":0}`)
	})
	return mux
}

func startChild(t testing.TB, dbURL, dir string) (*exec.Cmd, string) {
	return startChildMode(t, "collector", dbURL, dir, "")
}

func startChildMode(t testing.TB, mode, dbURL, dir, tlsDir string) (*exec.Cmd, string) {
	t.Helper()
	addrFile := filepath.Join(dir, fmt.Sprintf("addr-%d", time.Now().UnixNano()))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode+"|"+dbURL+"|"+addrFile+"|"+tlsDir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 500; i++ {
		if b, err := os.ReadFile(addrFile); err == nil {
			return cmd, string(b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("child collector did not start")
	return nil, ""
}

func post(client *http.Client, url string, v any) (int, []byte, error) {
	data, _ := json.Marshal(v)
	resp, err := client.Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestSIGKILLLosesNoAcknowledgedReport runs a load against a collector
// process, SIGKILLs it mid-run, restarts it on the same database and
// checks that every acknowledged report is there, and that resending one
// is answered as a duplicate.
func TestSIGKILLLosesNoAcknowledgedReport(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dir := t.TempDir()
			dbURL := b.url(t)
			if dbURL == "" {
				dbURL = filepath.Join(dir, "collector.db")
			}
			st, err := store.Open(context.Background(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			secret, err := st.AddSecret(context.Background(), "default")
			if err != nil {
				t.Fatal(err)
			}
			st.Close()

			cmd, url := startChild(t, dbURL, dir)
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
			const hosts = 40
			keys := make([]string, hosts)
			for i := range keys {
				code, body, err := post(client, url+api.PathEnroll, api.EnrollRequest{EnrollSecret: secret, Host: facts(fmt.Sprint("k", i))})
				if err != nil || code != 200 {
					t.Fatalf("enroll: %d %s %v", code, body, err)
				}
				var er api.EnrollResponse
				json.Unmarshal(body, &er)
				keys[i] = er.NodeKey
			}
			type acked struct {
				key, id string
			}
			var mu sync.Mutex
			var acks []acked
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for g := 0; g < hosts; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					for n := 0; n < 100000; n++ {
						select {
						case <-stop:
							return
						default:
						}
						id := fmt.Sprintf("g%d-%d", g, n)
						code, _, err := post(client, url+api.PathReport, report(keys[g], id, stores.StatusCompliant, stores.StatusMissing, stores.StatusCompliant))
						if err != nil {
							return // the collector is gone
						}
						if code == 200 {
							mu.Lock()
							acks = append(acks, acked{keys[g], id})
							mu.Unlock()
						}
					}
				}(g)
			}
			// Kill once a fair number of reports were acknowledged.
			deadline := time.Now().Add(30 * time.Second)
			for {
				mu.Lock()
				n := len(acks)
				mu.Unlock()
				if n >= 1500 || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			close(stop)
			wg.Wait()
			mu.Lock()
			got := append([]acked(nil), acks...)
			mu.Unlock()
			if len(got) == 0 {
				t.Fatal("no report was acknowledged before the kill")
			}

			_, url = startChild(t, dbURL, dir)
			st, err = store.Open(context.Background(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			missing := 0
			for _, a := range got {
				hostID, err := st.CheckNodeKey(context.Background(), a.key)
				if err != nil {
					t.Fatal(err)
				}
				var n int
				q := "SELECT COUNT(*) FROM reports WHERE host_id = ? AND report_id = ?"
				if st.Dialect() == store.Postgres {
					q = "SELECT COUNT(*) FROM reports WHERE host_id = $1 AND report_id = $2"
				}
				if err := st.DB().QueryRow(q, hostID, a.id).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != 1 {
					missing++
				}
			}
			if missing > 0 {
				t.Fatalf("%d of %d acknowledged reports lost after SIGKILL", missing, len(got))
			}
			// Resending an acknowledged report after the restart: stored once.
			last := got[len(got)-1]
			code, body, err := post(client, url+api.PathReport, report(last.key, last.id, stores.StatusCompliant, stores.StatusMissing, stores.StatusCompliant))
			if err != nil || code != 200 || !strings.Contains(string(body), `"duplicate":true`) {
				t.Fatalf("resend after restart: %d %s %v", code, body, err)
			}
			t.Logf("%d acknowledged reports, all found after SIGKILL and restart", len(got))
		})
	}
}
