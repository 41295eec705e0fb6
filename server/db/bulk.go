package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Bulk statements pass their rows as one parameter per statement (SQLite:
// a JSON array read with json_each; PostgreSQL: one array per column read
// with unnest), so the SQL text of a statement does not depend on how many
// rows it carries. That keeps every statement of the write path a constant
// string that is prepared once per connection (pgx caches statements by
// text; on SQLite the Store keeps them, see stmtCache) instead of being
// parsed again for every batch size.

// colKinds describes the columns of bulk rows: 'i' int64, 't' string.
type colKinds string

// kindsOf derives the column kinds from a row.
func kindsOf(row []any) (colKinds, error) {
	b := make([]byte, len(row))
	for i, v := range row {
		switch v.(type) {
		case int64:
			b[i] = 'i'
		case string:
			b[i] = 't'
		default:
			return "", fmt.Errorf("bulk column %d: unsupported type %T", i, v)
		}
	}
	return colKinds(b), nil
}

// source returns a row source "SELECT c0, c1, … FROM …" yielding rows
// with columns of kinds, and the single argument list that feeds it.
func (s *Store) source(kinds colKinds, rows [][]any) (string, []any, error) {
	var b strings.Builder
	b.WriteString("SELECT ")
	if s.dialect == Postgres {
		b.WriteString("* FROM unnest(")
		args := make([]any, len(kinds))
		for c, k := range kinds {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteString("?")
			if k == 'i' {
				b.WriteString("::bigint[]")
				col := make([]int64, len(rows))
				for r, row := range rows {
					v, ok := row[c].(int64)
					if !ok {
						return "", nil, fmt.Errorf("bulk row %d column %d: %T, want int64", r, c, row[c])
					}
					col[r] = v
				}
				args[c] = col
			} else {
				b.WriteString("::text[]")
				col := make([]string, len(rows))
				for r, row := range rows {
					v, ok := row[c].(string)
					if !ok {
						return "", nil, fmt.Errorf("bulk row %d column %d: %T, want string", r, c, row[c])
					}
					col[r] = v
				}
				args[c] = col
			}
		}
		b.WriteString(") AS u(")
		for c := range kinds {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteString("c" + strconv.Itoa(c))
		}
		b.WriteString(")")
		return b.String(), args, nil
	}
	for c := range kinds {
		if c > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "value->>%d AS c%d", c, c)
	}
	b.WriteString(" FROM json_each(?)")
	for r, row := range rows {
		if len(row) != len(kinds) {
			return "", nil, fmt.Errorf("bulk row %d: %d columns, want %d", r, len(row), len(kinds))
		}
	}
	data, err := json.Marshal(rows)
	if err != nil {
		return "", nil, fmt.Errorf("bulk rows: %w", err)
	}
	return b.String(), []any{string(data)}, nil
}

// cols returns "c0, c1, …" for n columns of a source.
func cols(n int) string {
	var b strings.Builder
	for c := 0; c < n; c++ {
		if c > 0 {
			b.WriteString(", ")
		}
		b.WriteString("c" + strconv.Itoa(c))
	}
	return b.String()
}

// bulkExec runs "prefix SELECT c0, … FROM <rows> WHERE true suffix" (an
// INSERT of every row, with an optional ON CONFLICT clause) as one
// statement. "WHERE true" keeps SQLite from reading ON CONFLICT as a join
// constraint.
func (s *Store) bulkExec(ctx context.Context, tx *sql.Tx, prefix string, rows [][]any, suffix string) error {
	if len(rows) == 0 {
		return nil
	}
	ncols := insertColumns(prefix)
	kinds, err := kindsOf(rows[0])
	if err != nil {
		return fmt.Errorf("%s: %w", firstWords(prefix), err)
	}
	if len(kinds) != ncols {
		return fmt.Errorf("%s: rows of %d columns, want %d", firstWords(prefix), len(kinds), ncols)
	}
	src, args, err := s.source(kinds, rows)
	if err != nil {
		return fmt.Errorf("%s: %w", firstWords(prefix), err)
	}
	query := prefix + " SELECT " + cols(ncols) + " FROM (" + src + ") AS v WHERE true " + suffix
	if _, err := s.txExec(ctx, tx, query, args...); err != nil {
		return fmt.Errorf("%s: %w", firstWords(prefix), err)
	}
	return nil
}

// inSet returns a condition "col IN <set>" over values (all int64 or all
// string) and its argument.
func (s *Store) inSet(col string, values any) (string, any) {
	if s.dialect == Postgres {
		switch values.(type) {
		case []int64:
			return col + " = ANY(?::bigint[])", values
		default:
			return col + " = ANY(?::text[])", values
		}
	}
	data, _ := json.Marshal(values) // []int64 or []string: cannot fail
	return col + " IN (SELECT value FROM json_each(?))", string(data)
}

// stmtCache keeps the prepared statements of the SQLite write connection.
// database/sql reuses a statement prepared on the DB handle inside a
// transaction on the same connection (Tx.StmtContext), and SQLite's write
// handle has exactly one connection. A statement first met inside a
// transaction cannot be prepared on the handle then (its only connection
// is busy): it is prepared on the transaction this once and on the
// handle after the commit (prepareMissed).
type stmtCache struct {
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	missed map[string]bool
}

// deferredKey carries a *deferred in a context: see withDeferred.
type deferredKey struct{}

// deferred collects data-modifying statements (with "?" placeholders) to
// run later as one statement: on PostgreSQL the tail of a batch write is
// a chain of independent INSERTs, UPDATEs and DELETEs of disjoint rows,
// sent as one "WITH s0 AS (…), s1 AS (…) SELECT 1" instead of one round
// trip each.
type deferred struct {
	parts []string
	args  []any
}

// withDeferred makes txExec (and so bulkExec) on PostgreSQL collect its
// statements in the returned deferred instead of running them; flush
// runs them. On SQLite (no round trips) statements run at once.
func (s *Store) withDeferred(ctx context.Context) (context.Context, *deferred) {
	if s.dialect != Postgres {
		return ctx, nil
	}
	d := &deferred{}
	return context.WithValue(ctx, deferredKey{}, d), d
}

// flush runs the collected statements as one.
func (s *Store) flush(ctx context.Context, tx *sql.Tx, d *deferred) error {
	if d == nil || len(d.parts) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("WITH ")
	for i, p := range d.parts {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "s%d AS (%s)", i, p)
	}
	b.WriteString(" SELECT 1")
	_, err := tx.ExecContext(ctx, s.q(b.String()), d.args...)
	d.parts, d.args = nil, nil
	return err
}

// cached returns the cached statement for query bound to tx, or nil (and
// notes query for prepareMissed) when it is not prepared yet.
func (s *Store) cached(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	c := &s.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.stmts[query]; st != nil {
		return tx.StmtContext(ctx, st)
	}
	if c.missed == nil {
		c.missed = map[string]bool{}
	}
	c.missed[query] = true
	return nil
}

// txExec executes query in tx; on SQLite through the statement cache; on
// PostgreSQL under withDeferred it only collects it (and returns nil).
func (s *Store) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if d, ok := ctx.Value(deferredKey{}).(*deferred); ok && d != nil {
		d.parts = append(d.parts, query)
		d.args = append(d.args, args...)
		return nil, nil
	}
	query = s.q(query)
	if s.dialect == SQLite {
		if st := s.cached(ctx, tx, query); st != nil {
			return st.ExecContext(ctx, args...)
		}
	}
	return tx.ExecContext(ctx, query, args...)
}

// txQuery runs query in tx; on SQLite through the statement cache.
func (s *Store) txQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	query = s.q(query)
	if s.dialect == SQLite {
		if st := s.cached(ctx, tx, query); st != nil {
			return st.QueryContext(ctx, args...)
		}
	}
	return tx.QueryContext(ctx, query, args...)
}

// prepareMissed prepares, outside any transaction, the statements that
// txExec and txQuery met for the first time.
func (s *Store) prepareMissed(ctx context.Context) {
	if s.dialect != SQLite {
		return
	}
	c := &s.cache
	c.mu.Lock()
	missed := c.missed
	c.missed = nil
	c.mu.Unlock()
	for q := range missed {
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			continue // prepared again on the next transaction
		}
		c.mu.Lock()
		if c.stmts == nil {
			c.stmts = map[string]*sql.Stmt{}
		}
		if c.stmts[q] == nil && len(c.stmts) < 256 {
			c.stmts[q] = st
			st = nil
		}
		c.mu.Unlock()
		if st != nil {
			st.Close()
		}
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts = nil
}

// insertColumns counts the columns named in an "INSERT INTO t (a, b, …)"
// head: the row width bulkExec checks every row against, derived from
// the column list so that no count is kept by hand.
func insertColumns(prefix string) int {
	open, end := strings.LastIndexByte(prefix, '('), strings.LastIndexByte(prefix, ')')
	if open < 0 || end < open || strings.TrimSpace(prefix[open+1:end]) == "" {
		return 0
	}
	return strings.Count(prefix[open+1:end], ",") + 1
}
