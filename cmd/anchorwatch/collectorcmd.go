package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/server"
	"github.com/anchorwatch/anchorwatch/server/store"
	"github.com/anchorwatch/anchorwatch/server/throttle"
	"github.com/anchorwatch/anchorwatch/server/web"
)

// collectorDB holds the flags every collector subcommand uses to find
// its database.
type collectorDB struct {
	dataDir string
	db      string
}

func defaultDataDir() string {
	if v := os.Getenv("XDG_STATE_HOME"); v != "" {
		return filepath.Join(v, "anchorwatch")
	}
	if os.Geteuid() == 0 {
		return "/var/lib/anchorwatch"
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "anchorwatch")
	}
	return "/var/lib/anchorwatch"
}

func (c *collectorDB) flags(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&c.dataDir, "data-dir", defaultDataDir(), "directory for the SQLite database and the self-signed certificate")
	cmd.PersistentFlags().StringVar(&c.db, "db", "", "database URL: postgres://… for PostgreSQL, or a SQLite file (default $"+envDB+", else DATA-DIR/collector.db); keep a password out of it (PGPASSWORD, ~/.pgpass or $"+envDB+")")
	// A password in --db is readable by every local user (ps): say so.
	cmd.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		if dbHasPassword(c.db) {
			warnCommandLine(cmd.ErrOrStderr(), "--db with a password", envDB+", PGPASSWORD or ~/.pgpass")
		}
	}
}

func (c *collectorDB) url() string {
	if c.db != "" {
		return c.db
	}
	if v := os.Getenv(envDB); v != "" {
		return v
	}
	return filepath.Join(c.dataDir, "collector.db")
}

// open opens the existing collector database; a missing or empty one is
// refused with its path and what to do (only `collector init` and
// `serve --init` create one: a mistyped --data-dir must not make a new,
// empty collector that tokens and policies then silently go into).
func (c *collectorDB) open(ctx context.Context) (*store.Store, error) {
	st, err := store.OpenExisting(ctx, c.url())
	var nd *store.NoDatabaseError
	if errors.As(err, &nd) {
		return nil, usageErr(fmt.Errorf("%w\ncreate it with: anchorwatch collector %s init (or serve --init)\nor name the existing database with --data-dir DIR, --db or $%s",
			err, c.flagsForHelp(), envDB))
	}
	return st, err
}

// create opens the database, creating it (and its schema) if needed.
func (c *collectorDB) create(ctx context.Context) (*store.Store, error) {
	return store.Open(ctx, c.url())
}

// flagsForHelp repeats the flags that name the database, for a hint.
func (c *collectorDB) flagsForHelp() string {
	switch {
	case c.db != "" && !dbHasPassword(c.db):
		return "--db " + shellQuote(c.db)
	case c.db != "":
		return "--db …"
	case os.Getenv(envDB) != "":
		return "(with $" + envDB + ")"
	}
	return "--data-dir " + shellQuote(c.dataDir)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@=,+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func newCollectorInitCmd(dbf *collectorDB) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create the collector database (SQLite file in --data-dir, or the schema in --db postgres://…)",
		Long: `init creates the collector's database: the SQLite file DATA-DIR/collector.db (or the
file --db names), or the schema in the PostgreSQL database --db names. It is the only
command besides "serve --init" that creates one; every other command refuses a missing
database. On an existing database it only brings the schema up to date.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			existing, err := store.OpenExisting(ctx, dbf.url())
			var nd *store.NoDatabaseError
			if err == nil {
				existing.Close()
				fmt.Fprintf(cmd.OutOrStdout(), "collector database %s exists already (schema version %d); nothing created\n", redactURL(dbf.url()), store.SchemaVersion())
				return nil
			}
			if !errors.As(err, &nd) {
				return err
			}
			if u := dbf.url(); !store.IsPostgresURL(u) {
				if fi, err := os.Stat(nd.Where); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
					return usageErr(fmt.Errorf("%s is a SQLite file but not a collector database: init adds its tables only to a new file (pick another --data-dir or --db)", nd.Where))
				}
			}
			st, err := dbf.create(ctx)
			if err != nil {
				return err
			}
			st.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "created collector database %s (schema version %d)\nnext: anchorwatch collector %s secret add NAME; token add NAME --role admin; serve\n",
				redactURL(dbf.url()), store.SchemaVersion(), dbf.flagsForHelp())
			return nil
		},
	}
}

func newCollectorCmd() *cobra.Command {
	var dbf collectorDB
	cmd := &cobra.Command{
		Use:   "collector",
		Short: "Run and administer the central collector",
		Long: `The collector is the server every agent reports to and every dashboard queries.
Its state lives in one SQLite file (default) or in PostgreSQL (--db postgres://…);
several collectors may share one PostgreSQL behind a load balancer.`,
	}
	dbf.flags(cmd)
	cmd.AddCommand(newCollectorInitCmd(&dbf))
	cmd.AddCommand(newCollectorServeCmd(&dbf), newCollectorSecretCmd(&dbf), newCollectorTokenCmd(&dbf),
		newCollectorPolicyCmd(&dbf), newCollectorLoadgenCmd(&dbf))
	cmd.AddCommand(newCollectorIngestCmd(&dbf), newCollectorExemptionCmd(&dbf)) // collector_ingest.go
	cmd.AddCommand(newCollectorHostCmd(&dbf))                                   // collector_host.go
	collectorUsage(cmd)                                                         // collector_usage.go
	return cmd
}

func newCollectorServeCmd(dbf *collectorDB) *cobra.Command {
	var listen, certFile, keyFile string
	var insecure, metricsPublic, initDB bool
	var hosts, proxies []string
	var offline, sessionIdle, sessionMax, pkiEvery time.Duration
	var life lifecycleFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the agent API, the dashboard API and /metrics",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			if (certFile == "") != (keyFile == "") {
				return usageErr(errors.New("--tls-cert and --tls-key go together"))
			}
			if insecure && certFile != "" {
				return usageErr(errors.New("--insecure-http and --tls-cert exclude each other"))
			}
			trusted, err := parsePrefixes("--trusted-proxy", proxies)
			if err != nil {
				return err
			}
			open := dbf.open
			if initDB {
				open = dbf.create
			}
			st, err := open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			// One limiter: failed sign-ins and failed API tokens count together.
			lim := throttle.New(throttle.Options{})
			ui := web.Handler(web.Options{Sessions: st, SessionIdle: sessionIdle, SessionMax: sessionMax, Limiter: lim,
				TrustedProxies: trusted, Logger: log})
			cfg := server.Config{Store: st, Logger: log, MetricsPublic: metricsPublic, OfflineAfter: offline, PKIProbeInterval: pkiEvery,
				UI: ui, Limiter: lim, TrustedProxies: trusted}
			life.apply(&cfg)
			srv, err := server.New(cfg)
			if err != nil {
				return err
			}
			defer srv.Close()
			err = server.ListenAndServe(ctx, server.ListenConfig{Addr: listen, Handler: srv, CertFile: certFile, KeyFile: keyFile,
				SelfSignedDir: dbf.dataDir, SelfSignedHosts: hosts, Insecure: insecure, Logger: log,
				Ready: func(l server.Listening) {
					if l.SelfSigned != "" {
						verb := "using"
						if l.Created {
							verb = "created"
						}
						fmt.Fprintf(cmd.OutOrStdout(), "%s self-signed certificate %s\nSHA-256 fingerprint (pin it in agents): %s\n", verb, l.SelfSigned, l.Fingerprint)
					}
					log.Info("collector listening", "url", l.URL, "db", redactURL(dbf.url()), "dialect", st.Dialect())
				}})
			var te *server.TLSError
			if errors.As(err, &te) {
				return usageErr(err)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", ":8443", "address to listen on")
	f.StringVar(&certFile, "tls-cert", "", "TLS certificate (PEM); default a self-signed one in the data dir")
	f.StringVar(&keyFile, "tls-key", "", "TLS private key (PEM)")
	f.BoolVar(&insecure, "insecure-http", false, "serve plain HTTP (local tests only)")
	f.BoolVar(&metricsPublic, "metrics-public", false, "serve /metrics without a token")
	f.StringSliceVar(&hosts, "cert-host", nil, "extra DNS names or IPs for the self-signed certificate")
	f.DurationVar(&offline, "offline-after", 24*time.Hour, "hosts not seen for this long count as offline in the summary")
	f.DurationVar(&pkiEvery, "pki-probe-interval", server.DefaultPKIProbeInterval, "check every CA of the policy (lint, CRLs, OCSP) this often; negative: never (docs/pki-health.md)")
	f.DurationVar(&sessionIdle, "session-idle", store.DefaultSessionIdle, "a dashboard session ends after this long without a request")
	f.DurationVar(&sessionMax, "session-max", store.DefaultSessionMax, "a dashboard session ends this long after sign-in, however active")
	f.StringArrayVar(&proxies, "trusted-proxy", nil, "`CIDR` of a reverse proxy whose X-Forwarded-For names the client (failed sign-ins are throttled per client address; repeatable)")
	f.BoolVar(&initDB, "init", false, "create the database if it does not exist (as collector init does)")
	life.register(cmd)
	return cmd
}

// parsePrefixes reads CIDR flag values (a bare address is its /32 or /128).
func parsePrefixes(flag string, vals []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range vals {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return nil, usageErr(fmt.Errorf("%s %q: not a CIDR prefix or an address", flag, v))
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func redactURL(u string) string {
	if !store.IsPostgresURL(u) {
		return u
	}
	// The password may sit in the user info or in a password= parameter
	// (both are what pgx reads).
	pu, err := url.Parse(u)
	if err != nil {
		return u[:strings.Index(u, "://")+3] + "… (unparsable URL, not shown)"
	}
	if pu.User != nil {
		pu.User = url.User(pu.User.Username())
	}
	if q := pu.Query(); q.Has("password") {
		q.Set("password", "…")
		pu.RawQuery = q.Encode()
	}
	return pu.String()
}

func printCreds(cmd *cobra.Command, cs []store.Credential, roles bool) error {
	if jsonFlag(cmd) {
		return printJSON(cmd.OutOrStdout(), credViews(cs))
	}
	t := newTable(idCol("NAME"), col("CREATED"), col("REVOKED"))
	if roles {
		t = newTable(idCol("NAME"), col("ROLE"), col("CREATED"), col("REVOKED"))
	}
	for _, c := range cs {
		rev := "-"
		if !c.RevokedAt.IsZero() {
			rev = c.RevokedAt.Format(time.RFC3339)
		}
		if roles {
			t.row(c.Name, c.Role, c.CreatedAt.Format(time.RFC3339), rev)
		} else {
			t.row(c.Name, c.CreatedAt.Format(time.RFC3339), rev)
		}
	}
	return t.render(cmd.OutOrStdout(), termLayout(cmd))
}

func newCollectorSecretCmd(dbf *collectorDB) *cobra.Command {
	cmd := &cobra.Command{Use: "secret", Short: "Manage enroll secrets (what installers give agents to enroll)"}
	cmd.AddCommand(&cobra.Command{
		Use: "add NAME", Short: "Create an enroll secret; it is printed once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := dbf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			v, err := st.AddSecret(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), v)
			return nil
		},
	}, &cobra.Command{
		Use: "list", Short: "List enroll secrets (names only)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := dbf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			cs, err := st.ListSecrets(cmd.Context())
			if err != nil {
				return err
			}
			return printCreds(cmd, cs, false)
		},
	}, &cobra.Command{
		Use: "revoke NAME", Short: "Revoke an enroll secret at once (enrolled hosts keep working)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := dbf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			return st.RevokeSecret(cmd.Context(), args[0])
		},
	})
	addListFlags(cmd, "list") // table.go
	return cmd
}

func newCollectorTokenCmd(dbf *collectorDB) *cobra.Command {
	var role string
	cmd := &cobra.Command{Use: "token", Short: "Manage dashboard API tokens (admin or viewer)"}
	add := &cobra.Command{
		Use: "add NAME", Short: "Create an API token; it is printed once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if role != store.RoleAdmin && role != store.RoleViewer {
				return usageErr(fmt.Errorf("--role %q: use admin or viewer", role))
			}
			st, err := dbf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			v, err := st.AddToken(cmd.Context(), args[0], role)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), v)
			return nil
		},
	}
	add.Flags().StringVar(&role, "role", store.RoleViewer, "admin (read and change) or viewer (read only)")
	cmd.AddCommand(add, &cobra.Command{
		Use: "list", Short: "List API tokens (names and roles only)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := dbf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			cs, err := st.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			return printCreds(cmd, cs, true)
		},
	}, &cobra.Command{
		Use: "revoke NAME", Short: "Revoke an API token at once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := dbf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			return st.RevokeToken(cmd.Context(), args[0])
		},
	})
	addListFlags(cmd, "list") // table.go
	return cmd
}

func newCollectorPolicyCmd(dbf *collectorDB) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Manage the signed policy the collector serves"}
	cmd.AddCommand(&cobra.Command{
		Use:   "upload FILE",
		Short: "Store a signed policy blob (PKCS#7); the collector serves it unchanged",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			blob, err := readSignedPolicyFile(args[0])
			if err != nil {
				return err
			}
			up, err := server.CheckPolicyUpload(blob, time.Now())
			if err != nil {
				return usageErr(fmt.Errorf("%s: %w", args[0], err))
			}
			if up.Warning != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "anchorwatch: warning: %s: %s\n", args[0], up.Warning)
			}
			st, err := dbf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			pub, err := server.PublishPolicy(cmd.Context(), st, up, server.StoreExemptions(st))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "policy serial %d stored; agents fetch it on their next report\n", pub.Serial)
			// Its device exemptions apply at once (collectors also import
			// them lazily, for policies stored by older versions).
			if pub.ExemptionsErr != nil {
				return fmt.Errorf("policy serial %d stored, but its device exemptions were not imported (the collector retries on its next device query): %w", pub.Serial, pub.ExemptionsErr)
			}
			res := pub.Exemptions
			fmt.Fprintf(cmd.OutOrStdout(), "%d device exemptions imported from the policy (%d skipped)\n", res.Exemptions, res.Skipped)
			return nil
		},
	})
	return cmd
}
