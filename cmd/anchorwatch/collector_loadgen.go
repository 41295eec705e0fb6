package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/loadgen"
)

// newCollectorLoadgenCmd is the `collector loadgen` command.
// Long: the command's flags, help text and RunE are declared together,
// as cobra commands are; the work is in the functions RunE calls.
func newCollectorLoadgenCmd(dbf *collectorDB) *cobra.Command {
	var cfg loadgen.Config
	var sat loadgen.SaturateConfig
	var seedHosts int
	var caFile string
	var insecureTLS, saturate bool
	var conv convergeFlags
	secret := secretFlags{name: "enroll-secret", what: "the enroll secret for the simulated hosts", env: envEnrollSecret}
	conv.token = secretFlags{name: "token", what: "an admin API token (--converge: to upload the policy)", env: envToken}
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

With --converge it measures fleet convergence: every simulated agent holds a policy wait
open (GET /api/v1/policy/wait, as the agent does; --agents-per-conn agents share one HTTP/2
connection, default 1: a connection each), reports go on at --rate, and after --baseline
the signed policy --converge-policy FILE is uploaded with the admin token (--token-file or
ANCHORWATCH_TOKEN). Each woken agent fetches the policy and reports its serial; loadgen prints
the time from the upload until 50, 99 and 100% of them did, and the report rate before and
during the rollout.

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
			if conv.policyFile != "" {
				return runConverge(cmd, cfg, &conv, caFile, insecureTLS, pr)
			}
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
	f.StringVar(&conv.policyFile, "converge-policy", "", "measure convergence (see above): upload this signed policy `FILE` after --baseline")
	conv.token.register(cmd, "--converge: ")
	f.IntVar(&conv.perConn, "agents-per-conn", 1, "--converge: simulated agents sharing one HTTP/2 connection")
	f.DurationVar(&conv.baseline, "baseline", 10*time.Second, "--converge: report load measured before the upload")
	f.DurationVar(&conv.timeout, "converge-timeout", 2*time.Minute, "--converge: longest wait for every agent after the upload")
	return cmd
}

// convergeFlags are the flags of loadgen --converge-policy.
type convergeFlags struct {
	policyFile        string
	token             secretFlags
	perConn           int
	baseline, timeout time.Duration
}

// runConverge uploads the policy file while simulated agents wait for it.
func runConverge(cmd *cobra.Command, cfg loadgen.Config, conv *convergeFlags, caFile string, insecure bool, pr *progressLine) error {
	token, err := conv.token.get(cmd)
	if err != nil {
		return err
	}
	if token == "" {
		return usageErr(errors.New("--converge-policy needs an admin API token: --token-file FILE or " + envToken))
	}
	blob, err := readLimitedFile(conv.policyFile, api.MaxBodyBytes)
	if err != nil {
		return fmt.Errorf("--converge-policy: %w", err)
	}
	tc, err := loadgenTLS(caFile, insecure)
	if err != nil {
		return err
	}
	perConn := max(conv.perConn, 1)
	clients := make([]*http.Client, (cfg.Hosts+perConn-1)/perConn)
	for i := range clients {
		clients[i] = &http.Client{Timeout: 3 * time.Minute, Transport: &http.Transport{TLSClientConfig: tc.Clone(), ForceAttemptHTTP2: true}}
	}
	res, err := loadgen.Converge(cmd.Context(), loadgen.ConvergeConfig{Config: cfg, Baseline: conv.baseline, Timeout: conv.timeout,
		AgentClient: func(i int) *http.Client { return clients[i/perConn] },
		Upload: func(ctx context.Context) (int64, error) {
			pr.println("uploading " + conv.policyFile)
			return uploadPolicy(ctx, cfg.Client, cfg.URL, token, blob)
		}})
	pr.clear()
	if err != nil {
		return err
	}
	fmt.Fprintln(cmd.OutOrStdout(), res)
	if res.Reached < res.Agents {
		return fmt.Errorf("%d of %d agents did not report serial %d within %v; first error: %s", res.Agents-res.Reached, res.Agents, res.Serial, conv.timeout, res.FirstError)
	}
	return nil
}

// uploadPolicy PUTs a signed policy blob with an admin token and returns
// the serial the collector stored.
func uploadPolicy(ctx context.Context, c *http.Client, base, token string, blob []byte) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, strings.TrimRight(base, "/")+api.PathPolicy, bytes.NewReader(blob))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var out struct {
		Serial int64  `json:"serial"`
		Detail string `json:"detail"`
	}
	_ = json.Unmarshal(body, &out)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("the collector refused the policy: %d %s", resp.StatusCode, out.Detail)
	}
	return out.Serial, nil
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
	tc, err := loadgenTLS(caFile, insecure)
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc,
		MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096}}, nil
}

// loadgenTLS trusts caFile (or verifies nothing with insecure).
func loadgenTLS(caFile string, insecure bool) (*tls.Config, error) {
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
	return tc, nil
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
