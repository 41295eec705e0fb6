package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// IsUnavailable reports whether err means the database could not commit
// or answer for a reason of its own that passes — a full disk, an I/O
// error, a lost or refused PostgreSQL connection, a server shutting down
// or out of resources — rather than a fault of the request. The collector
// answers those with 503 and Retry-After: the client sends the same
// request again later, and nothing it was told was stored is lost.
//
// It decides from the drivers' typed errors (errors.As), never from
// message text.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code of an extended one
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED,
			sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PROTOCOL:
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pgUnavailable(pe.Code)
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	var errno syscall.Errno
	switch {
	case errors.As(err, &ce), errors.As(err, &ne):
		return true
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case pgconn.Timeout(err), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &errno):
		return errno == syscall.ENOSPC || errno == syscall.EIO || errno == syscall.EDQUOT || errno == syscall.EROFS
	case errors.Is(err, os.ErrDeadlineExceeded):
		return true
	}
	return false
}

// pgUnavailable reports whether a PostgreSQL SQLSTATE is the server's
// condition rather than the statement's: connection exceptions (08),
// insufficient resources (53: disk full, out of memory, too many
// connections), operator intervention (57P01-57P05: shutdown, crash
// recovery), system errors (58: I/O) and serialization failures and
// deadlocks (40001, 40P01), which a retry resolves.
func pgUnavailable(code string) bool {
	if len(code) != 5 {
		return false
	}
	switch code[:2] {
	case "08", "53", "58":
		return true
	case "57":
		return code[2] == 'P'
	case "40":
		return code == "40001" || code == "40P01"
	}
	return false
}

// isRetryableConflict reports whether a write transaction failed only
// because another one held what it needed (PostgreSQL deadlock or
// serialization failure, SQLite busy): trying again at once may succeed.
func isRetryableConflict(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40P01" || pe.Code == "40001"
	}
	return isSQLiteBusy(err)
}

// isSQLiteBusy reports SQLITE_BUSY or SQLITE_LOCKED (with any extended code).
func isSQLiteBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code() & 0xff
	return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
}

// isUniqueViolation reports whether err is a unique or primary-key
// constraint violation: SQLite's extended codes SQLITE_CONSTRAINT_UNIQUE
// and SQLITE_CONSTRAINT_PRIMARYKEY (both "UNIQUE constraint failed"), or
// PostgreSQL's SQLSTATE 23505 (unique_violation).
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
