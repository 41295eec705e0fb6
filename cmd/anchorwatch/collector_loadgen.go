package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/server/loadgen"
)

func newCollectorLoadgenCmd(dbf *collectorDB) *cobra.Command {
	var cfg loadgen.Config
	var sat loadgen.SaturateConfig
	var seedHosts int
	var caFile string
	var insecureTLS, saturate bool
	secret := secretFlags{name: "enroll-secret", what: "the enroll secret for the simulated hosts", env: envEnrollSecret}
	cmd := &cobra.Command{
		Use:   "loadgen",
		Short: "Simulate a fleet of agents against a collector, measure its capacity (or bulk-fill a database)",
		Long: `loadgen enrolls --hosts simulated agents and sends reports at --rate for --duration
(about ten stores per host; a --full-ratio share of reports carry drift, the rest are
heartbeats), then prints throughput and latency percentiles. Progress goes to stderr.

With --saturate it measures capacity instead of an offered rate: steps of --step-duration
at a rate rising from --start-rate by --factor, until a step's p99 latency passes --max-p99,
a report fails, or under 95% of the offered rate is acknowledged; then it bisects between
the last rate that held and the first that did not, and prints the maximum sustained rate.

With --seed-hosts N it instead adds N hosts with full reports directly into the
database given by --db/--data-dir (for query benchmarks over a large fleet).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if seedHosts > 0 {
				return seed(cmd, dbf, seedHosts, cfg.Stores)
			}
			var err error
			if cfg.EnrollSecret, err = secret.get(cmd); err != nil {
				return err
			}
			if cfg.URL == "" || cfg.EnrollSecret == "" {
				return usageErr(errors.New("--url and an enroll secret (--enroll-secret-file FILE or " + envEnrollSecret + ") are required (or --seed-hosts)"))
			}
			if cfg.Client, err = loadgenClient(caFile, insecureTLS); err != nil {
				return err
			}
			pr := newProgressLine(cmd.ErrOrStderr())
			cfg.Progress = pr.show
			if saturate {
				sat.Config = cfg
				sat.Step = func(s loadgen.Step) { pr.println(s.String()) }
				res, err := loadgen.Saturate(ctx, sat)
				pr.clear()
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), res)
				if !res.Max.Held {
					return fmt.Errorf("no rate held (from %.0f reports/s)", sat.StartRate)
				}
				return nil
			}
			res, err := loadgen.Run(ctx, cfg)
			pr.clear()
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res)
			if res.Errors > 0 {
				return fmt.Errorf("%d reports failed; first: %s", res.Errors, res.FirstError)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.URL, "url", "", "collector URL, e.g. https://127.0.0.1:8443")
	secret.register(cmd, "")
	f.IntVar(&cfg.Hosts, "hosts", 1000, "simulated hosts")
	f.Float64Var(&cfg.Rate, "rate", 0, "reports per second in total (0: as fast as possible)")
	f.DurationVar(&cfg.Duration, "duration", 30*time.Second, "length of the measured report phase")
	f.IntVar(&cfg.Concurrency, "concurrency", 512, "requests in flight at most")
	f.Float64Var(&cfg.FullRatio, "full-ratio", 0.1, "share of reports with drift (full); the rest are heartbeats")
	f.IntVar(&cfg.Stores, "stores", 10, "stores per simulated host")
	f.StringVar(&caFile, "ca-cert", "", "CA certificate (PEM) to trust for the collector")
	f.BoolVar(&insecureTLS, "insecure-skip-verify", false, "do not verify the collector's certificate (loopback tests)")
	f.IntVar(&seedHosts, "seed-hosts", 0, "bulk-fill the database with this many hosts instead of running a load")
	f.BoolVar(&saturate, "saturate", false, "measure the maximum sustained rate (see above) instead of running at --rate")
	f.Float64Var(&sat.StartRate, "start-rate", 500, "--saturate: the first rate offered, reports per second")
	f.Float64Var(&sat.Factor, "factor", 1.25, "--saturate: the rate grows by this factor while a step holds")
	f.DurationVar(&sat.StepDuration, "step-duration", 5*time.Second, "--saturate: length of each step")
	f.DurationVar(&sat.MaxP99, "max-p99", 100*time.Millisecond, "--saturate: a step holds while its p99 latency stays within this")
	f.IntVar(&sat.MaxSteps, "max-steps", 40, "--saturate: stop after this many steps")
	return cmd
}

// seed bulk-fills the database with n hosts.
func seed(cmd *cobra.Command, dbf *collectorDB, n, stores int) error {
	st, err := dbf.open(cmd.Context())
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	return loadgen.Seed(cmd.Context(), st, n, stores, func(done int) {
		if done%100000 == 0 || done == n {
			fmt.Fprintf(cmd.ErrOrStderr(), "seeded %d/%d hosts (%v)\n", done, n, time.Since(start).Round(time.Second))
		}
	})
}

// loadgenClient is an HTTP client with many connections, trusting caFile
// (or not verifying at all with insecure).
func loadgenClient(caFile string, insecure bool) (*http.Client, error) {
	tc := &tls.Config{InsecureSkipVerify: insecure}
	if caFile != "" {
		data, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read --ca-cert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("--ca-cert %s: no PEM certificate", caFile)
		}
		tc.RootCAs = pool
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc,
		MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096}}, nil
}

// progressLine shows loadgen's progress on stderr: redrawn in place on a
// terminal, a line every five seconds otherwise (logs, pipes).
type progressLine struct {
	mu   sync.Mutex
	w    io.Writer
	tty  bool
	last time.Time
	live bool // a line is drawn (terminal)
}

func newProgressLine(w io.Writer) *progressLine {
	tty := false
	if f, ok := w.(*os.File); ok {
		fi, err := f.Stat()
		tty = err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
	}
	return &progressLine{w: w, tty: tty}
}

func (p *progressLine) show(pr loadgen.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K", pr)
		p.live = true
		return
	}
	if time.Since(p.last) >= 5*time.Second {
		p.last = time.Now()
		fmt.Fprintln(p.w, pr)
	}
}

// println writes a line of its own (a saturation step) above the progress.
func (p *progressLine) println(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.live {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.live = false
	}
	fmt.Fprintln(p.w, s)
}

// clear removes the progress line before the result is printed.
func (p *progressLine) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.live {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.live = false
	}
}
