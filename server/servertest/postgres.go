package servertest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
)

// PostgresOptions tune a cluster.
type PostgresOptions struct {
	// Durable keeps fsync and synchronous_commit on (benchmarks); tests
	// default to fsync=off, which loses nothing unless the machine crashes.
	Durable bool
	// BinDir holds initdb and pg_ctl; default $ANCHORWATCH_PG_BIN or
	// /usr/lib/postgresql/15/bin.
	BinDir string
}

// PostgresCluster is a PostgreSQL server in a temporary directory.
type PostgresCluster struct {
	dir, bin, port string
	opts           string // the server options pg_ctl starts it with
	cred           *credential
	admin          *sql.DB
	n              atomic.Int64
}

// StartPostgres starts a PostgreSQL cluster for t and returns the URL of
// a fresh database in it; the cluster is stopped and removed after t.
func StartPostgres(t testing.TB) string {
	t.Helper()
	c, err := NewPostgresCluster(PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	u, err := c.NewDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func pgBinDir(opt string) string {
	if opt != "" {
		return opt
	}
	if v := os.Getenv("ANCHORWATCH_PG_BIN"); v != "" {
		return v
	}
	return "/usr/lib/postgresql/15/bin"
}

// NewPostgresCluster runs initdb and starts the server. Call Stop.
func NewPostgresCluster(opts PostgresOptions) (*PostgresCluster, error) {
	bin := pgBinDir(opts.BinDir)
	for _, tool := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			return nil, fmt.Errorf("postgres test server: %s not found in %s: install the Debian package postgresql (or set ANCHORWATCH_PG_BIN)", tool, bin)
		}
	}
	dir, err := os.MkdirTemp("", "anchorwatch-pg-")
	if err != nil {
		return nil, fmt.Errorf("postgres test server: %w", err)
	}
	c := &PostgresCluster{dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("postgres test server: running as root needs the user postgres (Debian package postgresql creates it): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &credential{uid: uid, gid: gid}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("postgres test server: %w", err)
		}
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c.port = port
	data := filepath.Join(dir, "data")
	if out, err := c.run("initdb", "-D", data, "-U", "anchorwatch", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("postgres test server: initdb: %w\n%s", err, out)
	}
	o := fmt.Sprintf("-p %s -k %s -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB", port, dir)
	if !opts.Durable {
		o += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	c.opts = o
	if out, err := c.run("pg_ctl", "-D", data, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "-o", o, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		os.RemoveAll(dir)
		return nil, fmt.Errorf("postgres test server: pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	c.admin, err = sql.Open("pgx", c.url("postgres"))
	if err == nil {
		err = c.admin.Ping()
	}
	if err != nil {
		c.Stop()
		return nil, fmt.Errorf("postgres test server: connect: %w", err)
	}
	return c, nil
}

func (c *PostgresCluster) run(tool string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, tool), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		runAs(cmd, c.cred)
	}
	return cmd.CombinedOutput()
}

func (c *PostgresCluster) url(db string) string {
	return "postgres://anchorwatch@127.0.0.1:" + c.port + "/" + db + "?sslmode=disable"
}

// URL returns the URL of database db in the cluster.
func (c *PostgresCluster) URL(db string) string { return c.url(db) }

// NewDatabase creates an empty database and returns its URL.
func (c *PostgresCluster) NewDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("aw_test_%d", c.n.Add(1))
	if _, err := c.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("postgres test server: create database: %w", err)
	}
	return c.url(name), nil
}

// Restart stops the server (fast shutdown: every connection is closed,
// open transactions roll back) and starts it again on the same port: a
// database restart under the collectors' feet.
func (c *PostgresCluster) Restart() error {
	data := filepath.Join(c.dir, "data")
	if out, err := c.run("pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		return fmt.Errorf("postgres test server: pg_ctl stop: %w\n%s", err, out)
	}
	if out, err := c.run("pg_ctl", "-D", data, "-l", filepath.Join(c.dir, "server.log"), "-w", "-t", "60", "-o", c.opts, "start"); err != nil {
		return fmt.Errorf("postgres test server: pg_ctl start: %w\n%s", err, out)
	}
	return nil
}

// Stop stops the server and removes its directory.
func (c *PostgresCluster) Stop() error {
	if c.admin != nil {
		c.admin.Close()
	}
	out, err := c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop")
	if err != nil && !strings.Contains(string(out), "no server running") {
		err = fmt.Errorf("postgres test server: pg_ctl stop: %w\n%s", err, out)
	} else {
		err = nil
	}
	if rerr := os.RemoveAll(c.dir); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// freePort picks a free TCP port on 127.0.0.1.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port, nil
}
