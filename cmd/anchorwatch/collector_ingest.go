package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/server/db"
	"github.com/anchorwatch/anchorwatch/server/devices"
	"github.com/anchorwatch/anchorwatch/server/evidence"
)

// openDevices opens the collector database and its device tables, with the
// exemptions of the served policy imported.
func openDevices(ctx context.Context, dbf *collectorDB, log *slog.Logger) (*db.Store, *devices.DB, error) {
	st, err := dbf.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	d, err := devices.Open(ctx, st.DB(), st.ReadDB(), st.Dialect())
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	if p, err := st.CurrentPolicy(ctx); err == nil {
		if _, err := d.ImportPolicy(ctx, p.Serial, p.Blob); err != nil {
			log.Warn("policy exemptions not imported", "serial", p.Serial, "err", err)
		}
	} else if !errors.Is(err, db.ErrNotFound) {
		log.Warn("policy exemptions not imported", "err", err)
	}
	return st, d, nil
}

// newCollectorIngestCmd is the `collector ingest` command.
// Long: the command's flags, help text and RunE are declared together,
// as cobra commands are; the work is in the functions RunE calls.
func newCollectorIngestCmd(dbf *collectorDB) *cobra.Command {
	var format, tz string
	var follow bool
	var poll time.Duration
	var maxLine int
	var remote remoteOptions
	token := secretFlags{name: "token", what: "an admin API token", env: envToken}
	cmd := &cobra.Command{
		Use:   "ingest --format FORMAT FILE…",
		Short: "Ingest network evidence (Squid logs, DHCP leases, CSV) to find unmanaged devices",
		Long: `ingest reads network evidence into the collector database, where it is matched against
enrolled hosts to find unmanaged devices (GET /api/v1/devices, the dashboard's Devices page).

Formats: ` + strings.Join(evidence.Formats(), ", ") + `.

Each file is read from where the last ingest of it stopped: ingesting the same file again
changes nothing, and an interrupted ingest resumes without duplicates. Malformed, partial and
over-long lines are counted and skipped. With --follow the files are tailed until Ctrl-C,
across log rotation (rename or copytruncate).

With --url the files are parsed here and sent to a collector's API instead (an admin token
from --token-file or $ANCHORWATCH_TOKEN;
--fingerprint or --ca-cert to verify it); what was sent is kept in a local --state file, and
a re-run after an interruption sends each batch exactly once. See docs/unmanaged.md.`,
		Example: `  anchorwatch collector ingest --format squid-access /var/log/squid/access.log
  anchorwatch collector ingest --url https://collector:8443 --token-file /etc/anchorwatch/ingest.token --fingerprint AB:CD:… --format squid-access /var/log/squid/access.log
  anchorwatch collector ingest --format squid-cache --follow /var/log/squid/cache.log
  anchorwatch collector ingest --format dhcpd /var/lib/dhcp/dhcpd.leases`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr(errors.New("name at least one evidence file"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, files []string) error {
			if format == "" {
				return usageErr(fmt.Errorf("--format is required: one of %s", strings.Join(evidence.Formats(), ", ")))
			}
			known := false
			for _, f := range evidence.Formats() {
				known = known || f == format
			}
			if !known {
				return usageErr(fmt.Errorf("--format %q: use one of %s", format, strings.Join(evidence.Formats(), ", ")))
			}
			opt := evidence.IngestOptions{Options: evidence.Options{MaxLineBytes: maxLine}}
			if tz != "" {
				loc, err := time.LoadLocation(tz)
				if err != nil {
					return usageErr(fmt.Errorf("--timezone %q: %w (use an IANA name such as Europe/Berlin)", tz, err))
				}
				opt.Location = loc
			}
			ctx := cmd.Context()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			if remote.url != "" || token.value != "" || token.file != "" || remote.caCert != "" || remote.fingerprint != "" || remote.state != "" {
				if remote.url == "" {
					return usageErr(errors.New("--token, --token-file, --ca-cert, --fingerprint and --state go with --url (remote ingest)"))
				}
				var err error
				if remote.token, err = token.get(cmd); err != nil {
					return err
				}
				if cmd.Flags().Changed("db") {
					return usageErr(errors.New("--db and --url exclude each other: ingest into a database, or send to a collector"))
				}
				r, unlock, err := openRemote(ctx, remote, dbf.dataDir)
				if err != nil {
					return err
				}
				defer unlock()
				defer func() {
					fmt.Fprintf(cmd.OutOrStdout(), "sent %d batches to %s (%d already there)\n", r.stats.sent, remote.url, r.stats.duplicates)
				}()
				if follow {
					return followFiles(ctx, cmd, r, format, files, evidence.FollowOptions{IngestOptions: opt, Poll: poll, Logger: log})
				}
				return ingestFiles(ctx, cmd, r, format, files, opt)
			}
			st, d, err := openDevices(ctx, dbf, log)
			if err != nil {
				return err
			}
			defer st.Close()
			boundIngestCache(ctx, st, log)
			if follow {
				return followFiles(ctx, cmd, d, format, files, evidence.FollowOptions{IngestOptions: opt, Poll: poll, Logger: log})
			}
			return ingestFiles(ctx, cmd, d, format, files, opt)
		},
	}
	f := cmd.Flags()
	f.StringVar(&remote.url, "url", "", "send to this collector (https://collector:8443) over its API instead of writing the database")
	token.register(cmd, "with --url: ")
	f.StringVar(&remote.caCert, "ca-cert", "", "with --url: PEM CA (or the collector's self-signed certificate) to verify the collector with")
	f.StringVar(&remote.fingerprint, "fingerprint", "", "with --url: SHA-256 fingerprint of the collector's certificate to pin (as `collector serve` prints it)")
	f.StringVar(&remote.state, "state", "", "with --url: file recording what was sent (default DATA-DIR/ingest-<url hash>.json)")
	f.StringVar(&format, "format", "", "evidence format: "+strings.Join(evidence.Formats(), ", "))
	f.BoolVar(&follow, "follow", false, "keep reading lines as they are appended, across log rotation, until interrupted")
	f.DurationVar(&poll, "poll", 250*time.Millisecond, "with --follow: how often files are checked for new lines")
	f.StringVar(&tz, "timezone", "", "time zone of local timestamps (Squid cache.log, dhcpd local times); default this machine's")
	f.IntVar(&maxLine, "max-line-bytes", evidence.DefaultMaxLineBytes, "longer lines are skipped and counted")
	return cmd
}

// ingestCacheKiB is the SQLite page cache of `collector ingest`. The
// server's cache (256 MiB, for its readers and bursts) would only grow the
// memory of a one-shot ingest, which writes batch after batch.
const ingestCacheKiB = 8 << 10

// boundIngestCache shrinks the page cache of the database's one writing
// connection for this process. It is an optimisation: on failure, or on
// PostgreSQL, the ingest goes on as it is.
func boundIngestCache(ctx context.Context, st *db.Store, log *slog.Logger) {
	if st.Dialect() != db.SQLite {
		return
	}
	if _, err := st.DB().ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", ingestCacheKiB)); err != nil {
		log.Warn("could not bound the database page cache; ingest goes on with the default", "err", err)
	}
}

func ingestFiles(ctx context.Context, cmd *cobra.Command, d evidence.Store, format string, files []string, opt evidence.IngestOptions) error {
	out := cmd.OutOrStdout()
	var total evidence.Stats
	var elapsed time.Duration
	var failed []string
	unopened := 0
	for _, path := range files {
		bar := newProgressBar(cmd.ErrOrStderr(), filepath.Base(path))
		o := opt
		if bar != nil {
			o.Progress = bar.update
		}
		start := time.Now()
		stats, err := evidence.IngestFile(ctx, d, format, path, o)
		took := time.Since(start)
		bar.done()
		total, elapsed = total.Add(stats), elapsed+took
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(out, "%s: interrupted; what was committed is kept and the next ingest resumes there\n", path)
				printStats(out, path, stats, took)
				return &exitError{code: 130} // interrupted: the summary said it all
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "anchorwatch: %v\n", err)
			failed = append(failed, path)
			if pe := (*fs.PathError)(nil); errors.As(err, &pe) && pe.Op == "open" {
				unopened++ // a file named on the command line that is not there: an input error
			}
			continue
		}
		printStats(out, path, stats, took)
	}
	if len(files) > 1 {
		printStats(out, fmt.Sprintf("total (%d files)", len(files)), total, elapsed)
	}
	if len(failed) > 0 {
		code := exitFailed
		if unopened == len(failed) {
			code = exitUsage
		}
		return &exitError{code: code, err: fmt.Errorf("%d of %d files could not be ingested: %s", len(failed), len(files), strings.Join(failed, ", "))}
	}
	return nil
}

// printStats writes the summary of one ingest.
func printStats(w io.Writer, name string, s evidence.Stats, took time.Duration) {
	if s.Bytes == 0 {
		fmt.Fprintf(w, "%s: nothing new (already ingested up to its end", name)
		if s.Partial > 0 {
			fmt.Fprint(w, "; its unterminated last line is read once it is complete")
		}
		fmt.Fprintln(w, ")")
		return
	}
	rate := ""
	if secs := took.Seconds(); secs > 0 {
		rate = fmt.Sprintf(" (%s lines/s)", group(int64(float64(s.Lines)/secs)))
	}
	fmt.Fprintf(w, "%s: %s lines in %s%s: %s parsed, %s ignored, %s malformed, %s too long, %s partial",
		name, group(s.Lines), took.Round(time.Millisecond), rate, group(s.Parsed), group(s.Ignored), group(s.Malformed), group(s.TooLong), group(s.Partial))
	if s.Unattributed > 0 {
		fmt.Fprintf(w, ", %s TLS rejections naming no client", group(s.Unattributed))
	}
	fmt.Fprintf(w, "; %s read\n", byteSize(s.Bytes))
}

// group writes n with thousands separators.
func group(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func followFiles(ctx context.Context, cmd *cobra.Command, d evidence.Store, format string, files []string, opt evidence.FollowOptions) error {
	fmt.Fprintf(cmd.ErrOrStderr(), "following %d file(s) as %s; Ctrl-C to stop\n", len(files), format)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, path := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := evidence.Follow(ctx, d, format, path, opt)
			if err != nil && ctx.Err() == nil {
				errs[i] = err
				cancel() // one file failing stops the others: the caller's supervisor restarts us
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintln(cmd.ErrOrStderr(), "stopped; every committed line is kept and the next run resumes after it")
	return nil
}

// progressBar draws one line on a terminal: file, bar, percent, rate.
type progressBar struct {
	w     io.Writer
	name  string
	start time.Time
	last  time.Time
	drawn bool
}

// newProgressBar returns a bar when w is a terminal, nil otherwise (logs
// and pipes get only the summary).
func newProgressBar(w io.Writer, name string) *progressBar {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 || os.Getenv("TERM") == "dumb" {
		return nil
	}
	if len(name) > 24 {
		name = "…" + name[len(name)-23:]
	}
	return &progressBar{w: w, name: name, start: time.Now()}
}

func (p *progressBar) update(done, total int64) {
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond && done < total {
		return
	}
	p.last, p.drawn = now, true
	const width = 30
	frac := 1.0
	if total > 0 {
		frac = min(1, float64(done)/float64(total))
	}
	n := int(frac * width)
	rate := ""
	if secs := now.Sub(p.start).Seconds(); secs > 0 {
		rate = byteSize(int64(float64(done)/secs)) + "/s"
	}
	fmt.Fprintf(p.w, "\r%-24s [%s%s] %3.0f%%  %s / %s  %s\x1b[K", p.name, strings.Repeat("#", n), strings.Repeat(".", width-n),
		frac*100, byteSize(done), byteSize(total), rate)
}

// done clears the bar's line (nil-safe).
func (p *progressBar) done() {
	if p != nil && p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

// newCollectorExemptionCmd is the `collector exemption` command.
// Long: the command's flags, help text and RunE are declared together,
// as cobra commands are; the work is in the functions RunE calls.
func newCollectorExemptionCmd(dbf *collectorDB) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exemption",
		Short: "Manage device exemptions (servers, guest Wi-Fi, printers: listed as exempt, not unmanaged)",
		Long: `An exemption keeps matching devices out of the unmanaged count: a subnet (CIDR or one address),
a MAC address, or a hostname pattern ("printer-*", "*.lab.example.com"). Exempt devices are
still listed, marked exempt with the reason. Exemptions in the signed policy are imported
with source "policy" and replaced when a new policy is uploaded.`,
	}
	var reason, expires string
	add := &cobra.Command{
		Use:     "add subnet|mac|hostname VALUE --reason TEXT [--expires WHEN]",
		Short:   "Add or replace an exemption",
		Example: "  anchorwatch collector exemption add subnet 10.50.0.0/16 --reason \"guest Wi-Fi\" --expires 30d",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := devices.Exemption{Kind: args[0], Value: args[1], Reason: reason}
			if expires != "" {
				t, err := parseExpiry(expires, time.Now())
				if err != nil {
					return usageErr(err)
				}
				e.ExpiresAt = t
			}
			if err := e.Normalize(); err != nil {
				return usageErr(err)
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			st, d, err := openDevices(cmd.Context(), dbf, log)
			if err != nil {
				return err
			}
			defer st.Close()
			e, err = d.AddExemption(cmd.Context(), e)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "exempt: %s %s (%s)\n", e.Kind, e.Value, e.Reason)
			return nil
		},
	}
	add.Flags().StringVar(&reason, "reason", "", "why these devices are exempt (required)")
	add.Flags().StringVar(&expires, "expires", "", "when the exemption ends: RFC 3339 time, or a duration from now (12h, 30d)")
	list := &cobra.Command{
		Use: "list", Short: "List exemptions, expired ones included", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			st, d, err := openDevices(cmd.Context(), dbf, log)
			if err != nil {
				return err
			}
			defer st.Close()
			list, err := d.Exemptions(cmd.Context())
			if err != nil {
				return err
			}
			if jsonFlag(cmd) {
				return printJSON(cmd.OutOrStdout(), list)
			}
			now := time.Now()
			t := newTable(col("KIND"), idCol("VALUE"), col("SOURCE"), col("EXPIRES"), textCol("REASON"))
			for _, e := range list {
				exp := "never"
				if !e.ExpiresAt.IsZero() {
					exp = e.ExpiresAt.Format(time.RFC3339)
					if !e.Active(now) {
						exp += " (expired)"
					}
				}
				t.row(e.Kind, e.Value, e.Source, exp, e.Reason)
			}
			return t.render(cmd.OutOrStdout(), termLayout(cmd))
		},
	}
	addListFlags(list) // table.go
	remove := &cobra.Command{
		Use: "remove subnet|mac|hostname VALUE", Short: "Remove an exemption", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			st, d, err := openDevices(cmd.Context(), dbf, log)
			if err != nil {
				return err
			}
			defer st.Close()
			ok, err := d.RemoveExemption(cmd.Context(), args[0], args[1])
			if err != nil {
				return usageErr(err)
			}
			if !ok {
				return fmt.Errorf("no %s exemption %q (see `anchorwatch collector exemption list`)", args[0], args[1])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed: %s %s\n", args[0], args[1])
			return nil
		},
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

// parseExpiry accepts an RFC 3339 time or a duration from now ("12h", "30d").
func parseExpiry(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if n, ok := strings.CutSuffix(v, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err == nil && days > 0 && days < 100000 && fmt.Sprint(days) == n {
			return now.Add(time.Duration(days) * 24 * time.Hour), nil
		}
	} else if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("--expires %q: use an RFC 3339 time (2026-03-01T00:00:00Z) or a duration from now (12h, 30d)", v)
}
