package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	_ "modernc.org/sqlite"             // driver "sqlite"
)

// Dialect names the SQL database behind a Store.
type Dialect string

// Dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Store is the collector database. It is safe for concurrent use; on
// SQLite, writes are serialized on one connection (WriteBatch is meant to
// be called by one group-commit writer) and reads use a separate pool.
type Store struct {
	dialect Dialect
	w       *sql.DB // writes (SQLite: one connection)
	r       *sql.DB // reads (SQLite: a read pool; PostgreSQL: same as w)
	dsn     string
	// maxParams is the bind-parameter limit of one statement.
	maxParams int
	// lastBucket is the hour whose compliance snapshot this process
	// already wrote (an optimization only: the write is idempotent).
	lastBucket atomic.Int64
	// lastWrite is when this process last committed a write (Unix ms):
	// the SQLite checkpointer truncates the WAL once writes pause.
	lastWrite atomic.Int64
	// cache holds the SQLite write connection's prepared statements.
	cache stmtCache
	// SQLite: the background checkpointer's connection and its stop.
	ckDB           *sql.DB
	ckStop, ckDone chan struct{}
}

// ErrNotFound is returned when a host, token, secret or policy does not exist.
var ErrNotFound = errors.New("not found")

// IsPostgresURL reports whether u selects PostgreSQL.
func IsPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// Open opens (creating it if needed) the database named by dbURL and runs
// the schema migrations. dbURL is "postgres://…" for PostgreSQL, or a
// SQLite file: "sqlite:PATH", "file:PATH" or a plain PATH.
func Open(ctx context.Context, dbURL string) (*Store, error) {
	return open(ctx, dbURL, true)
}

// OpenExisting opens a collector database that exists already — a
// SQLite file holding the collector's schema, or a PostgreSQL database
// into which Open created it — and brings its schema up to date. A
// missing or empty file, or a database without the schema, is a
// *NoDatabaseError: nothing is created (the CLI creates a database only
// in `collector init` and `serve --init`).
func OpenExisting(ctx context.Context, dbURL string) (*Store, error) {
	if dbURL != "" && !IsPostgresURL(dbURL) {
		path := sqlitePath(dbURL)
		fi, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, &NoDatabaseError{Where: path, Reason: "the file does not exist"}
		case err != nil:
			return nil, fmt.Errorf("store: SQLite database %s: %w", path, err)
		case fi.IsDir():
			return nil, &NoDatabaseError{Where: path, Reason: "it is a directory"}
		case fi.Size() == 0:
			return nil, &NoDatabaseError{Where: path, Reason: "the file is empty"}
		}
	}
	return open(ctx, dbURL, false)
}

// NoDatabaseError says that a collector database does not exist where
// OpenExisting looked.
type NoDatabaseError struct {
	Where  string // the SQLite path, or the PostgreSQL URL without its password
	Reason string
}

func (e *NoDatabaseError) Error() string {
	return "no collector database at " + e.Where + ": " + e.Reason
}

func open(ctx context.Context, dbURL string, create bool) (*Store, error) {
	if dbURL == "" {
		return nil, errors.New("store: empty database URL: pass --db postgres://… or a SQLite file path")
	}
	var s *Store
	var err error
	if IsPostgresURL(dbURL) {
		s, err = openPostgres(ctx, dbURL)
	} else {
		s, err = openSQLite(ctx, dbURL, create)
	}
	if err != nil {
		return nil, err
	}
	if !create {
		if err := s.checkSchema(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := migrate(ctx, s.w, s.dialect, &collectorSchema); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// checkSchema makes sure the database holds the collector's schema
// (its schema_migrations table).
func (s *Store) checkSchema(ctx context.Context) error {
	query := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
	where := sqlitePath(s.dsn)
	if s.dialect == Postgres {
		query = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'"
		where = redact(s.dsn)
	}
	var n int
	if err := s.w.QueryRowContext(ctx, query).Scan(&n); err != nil {
		return fmt.Errorf("store: read the schema of %s: %w (is it a collector database?)", where, err)
	}
	if n == 0 {
		return &NoDatabaseError{Where: where, Reason: "it holds no collector schema"}
	}
	return nil
}

func sqlitePath(u string) string {
	switch {
	case strings.HasPrefix(u, "sqlite://"):
		u = strings.TrimPrefix(u, "sqlite://")
	case strings.HasPrefix(u, "sqlite:"):
		u = strings.TrimPrefix(u, "sqlite:")
	case strings.HasPrefix(u, "file:"):
		u = strings.TrimPrefix(u, "file:")
	}
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	return u
}

func openSQLite(ctx context.Context, dbURL string, create bool) (*Store, error) {
	path := sqlitePath(dbURL)
	if path == "" {
		return nil, fmt.Errorf("store: %q names no SQLite file", dbURL)
	}
	if dir := filepath.Dir(path); dir != "" && create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: create directory for SQLite database %s: %w", path, err)
		}
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	// FULL: a commit is on disk before it is acknowledged; group commit
	// makes that one fsync per batch.
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(0)")
	q.Add("_pragma", "cache_size(-262144)")
	// Checkpoints run in the background (checkpointLoop), off the commit
	// path; this is only the backstop if they fall behind (~160 MB).
	q.Add("_pragma", "wal_autocheckpoint(40000)")
	// A WAL that grew under a burst is cut back to 64 MiB when it is
	// reset; checkpointLoop truncates it to nothing once writes pause.
	q.Add("_pragma", "journal_size_limit(67108864)")
	q.Add("_pragma", "mmap_size(1073741824)")
	q.Add("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open SQLite database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := pingSQLite(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open SQLite database %s: %w (is the directory writable?)", path, err)
	}
	rq := url.Values{}
	rq.Add("_pragma", "busy_timeout(10000)")
	rq.Add("_pragma", "cache_size(-65536)")
	rq.Add("_pragma", "mmap_size(1073741824)")
	rq.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", "file:"+path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open SQLite database %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	cq := url.Values{}
	// Short: a TRUNCATE checkpoint holds the write lock while it waits
	// for readers, so it gives up quickly and tries again later.
	cq.Add("_pragma", "busy_timeout(100)")
	cq.Add("_pragma", "synchronous(FULL)")
	ck, err := sql.Open("sqlite", "file:"+path+"?"+cq.Encode())
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("store: open SQLite database %s for checkpoints: %w", path, err)
	}
	ck.SetMaxOpenConns(1)
	s := &Store{dialect: SQLite, w: w, r: r, dsn: dsn, maxParams: 32000, ckDB: ck, ckStop: make(chan struct{}), ckDone: make(chan struct{})}
	go s.checkpointLoop()
	return s, nil
}

// pingSQLite opens the first connection. Switching a new file to WAL needs
// an exclusive lock, and SQLite answers SQLITE_BUSY at once, without its
// busy handler, when another process is opening the same new file at that
// moment; such a connection is discarded and the open is retried for up to
// ten seconds. Any other error is returned at once.
func pingSQLite(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for wait := 5 * time.Millisecond; ; wait = min(wait*2, 200*time.Millisecond) {
		err := db.PingContext(ctx)
		if err == nil || !isSQLiteBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// checkpointLoop copies the WAL into the database file every 200 ms on its
// own connection while writes come in (a PASSIVE checkpoint: it never
// blocks the writer or the readers), so that commits — and the requests
// waiting for them — do not pay for checkpoints. Once writes have paused
// for idleTruncate it runs one TRUNCATE checkpoint, which empties the WAL
// file: a collector that took a burst does not keep a large WAL on disk
// while serving (TRUNCATE waits at most the connection's 100 ms busy
// timeout for readers, and is tried again on the next tick if it could
// not finish).
func (s *Store) checkpointLoop() {
	defer close(s.ckDone)
	const idleTruncate = time.Second
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	seen, truncated := int64(-1), false
	for {
		select {
		case <-s.ckStop:
			return
		case <-t.C:
		}
		last := s.lastWrite.Load()
		switch {
		case last != seen:
			seen, truncated = last, false
			s.ckDB.Exec("PRAGMA wal_checkpoint(PASSIVE)") // best effort; the autocheckpoint is the backstop
		case !truncated && time.Since(time.UnixMilli(last)) >= idleTruncate:
			truncated = s.checkpoint("TRUNCATE") == nil
		}
	}
}

// errCheckpointBusy: a checkpoint could not finish (readers or a writer
// held the WAL); it is tried again later.
var errCheckpointBusy = errors.New("checkpoint could not finish: the database was busy")

// checkpoint runs PRAGMA wal_checkpoint(mode) on the checkpoint connection.
func (s *Store) checkpoint(mode string) error {
	var busy, logFrames, done int
	if err := s.ckDB.QueryRow("PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &logFrames, &done); err != nil {
		return err
	}
	if busy != 0 {
		return errCheckpointBusy
	}
	return nil
}

func openPostgres(ctx context.Context, dbURL string) (*Store, error) {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return nil, fmt.Errorf("store: open PostgreSQL %s: %w", redact(dbURL), err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to PostgreSQL %s: %w (is the server running and the URL right?)", redact(dbURL), err)
	}
	return &Store{dialect: Postgres, w: db, r: db, dsn: dbURL, maxParams: 65000}, nil
}

// redact hides a password in a database URL for error messages.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	if q := p.Query(); q.Has("password") { // pgx reads it there too
		q.Set("password", "xxxxx")
		p.RawQuery = q.Encode()
	}
	return p.Redacted()
}

// Dialect reports which database the store uses.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB returns the write handle: on SQLite the single writer connection that
// the group-commit writer also uses, so a slow statement on it delays
// every report acknowledgement. Use it only to write; read with ReadDB.
func (s *Store) DB() *sql.DB { return s.w }

// ReadDB returns the handle for read-only queries: on SQLite a separate
// pool of query_only connections (WAL mode lets them read while the writer
// commits); on PostgreSQL the same pool as DB.
func (s *Store) ReadDB() *sql.DB { return s.r }

// Close closes the database.
func (s *Store) Close() error {
	if s.ckDB != nil {
		close(s.ckStop)
		<-s.ckDone
		s.ckDB.Close()
	}
	s.cache.close()
	err := s.w.Close()
	if s.r != s.w {
		if err2 := s.r.Close(); err == nil {
			err = err2
		}
	}
	return err
}

// committed notes a committed write transaction that recorded the
// snapshot of hour bucket (0: none).
func (s *Store) committed(bucket int64) {
	if bucket != 0 {
		s.lastBucket.Store(bucket)
	}
	s.touch()
}

// touch notes a committed write.
func (s *Store) touch() { s.lastWrite.Store(time.Now().UnixMilli()) }

// Ping checks the database is reachable.
func (s *Store) Ping(ctx context.Context) error { return s.r.PingContext(ctx) }

// q rewrites ? placeholders to $n for PostgreSQL.
func (s *Store) q(query string) string { return Rebind(s.dialect, query) }

// Rebind rewrites the ? placeholders of query to $1, $2… for PostgreSQL
// and returns it unchanged for SQLite. Queries of the collector database
// never contain a literal '?'.
func Rebind(d Dialect, query string) string {
	if d != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// Millis converts a time to stored Unix milliseconds; the zero time is 0.
// Every table of the collector's database stores times this way.
func Millis(t time.Time) int64 { return ms(t) }

// FromMillis converts stored Unix milliseconds back; 0 is the zero time.
func FromMillis(v int64) time.Time { return fromMS(v) }

// ms converts a time to stored Unix milliseconds; the zero time is 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS converts stored Unix milliseconds back; 0 is the zero time.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// placeholders returns "(?,?,?),(?,?,?)…" for rows rows of cols columns.
func placeholders(rows, cols int) string {
	one := "(" + strings.Repeat("?,", cols-1) + "?)"
	var b strings.Builder
	b.Grow(rows * (len(one) + 1))
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(one)
	}
	return b.String()
}

func firstWords(s string) string {
	f := strings.Fields(s)
	if len(f) > 3 {
		f = f[:3]
	}
	return strings.Join(f, " ")
}
