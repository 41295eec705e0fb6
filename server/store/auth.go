package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Credential prefixes make a leaked value recognizable in logs and scans.
const (
	PrefixSecret  = "aws_" // enroll secret
	PrefixToken   = "awt_" // dashboard API token
	PrefixNodeKey = "awn_" // per-host node key
)

// Roles of API tokens.
const (
	RoleAdmin  = "admin"
	RoleViewer = "viewer"
)

// NewCredential returns a fresh random credential: prefix + 32 random
// bytes, base64url.
func NewCredential(prefix string) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// IsNodeKey reports whether c has the shape of a node key (its prefix);
// it says nothing of whether the key is valid.
func IsNodeKey(c string) bool { return strings.HasPrefix(c, PrefixNodeKey) }

// HashCredential is the SHA-256 (hex) that the database stores in place of
// a credential.
func HashCredential(c string) string {
	h := sha256.Sum256([]byte(c))
	return hex.EncodeToString(h[:])
}

// sameHash compares two stored hashes in constant time.
func sameHash(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ValidName checks a secret or token name.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("name %q: use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", name)
	}
	return nil
}

// ErrExists is wrapped when a credential of that name exists already.
var ErrExists = errors.New("already exists")

// Credential describes a stored enroll secret or API token (never the
// secret itself).
type Credential struct {
	Name      string
	Role      string // tokens only
	CreatedAt time.Time
	RevokedAt time.Time // zero while active
}

// AddSecret creates an enroll secret and returns it; it is shown once and
// stored only as a hash.
func (s *Store) AddSecret(ctx context.Context, name string) (string, error) {
	if err := ValidName(name); err != nil {
		return "", fmt.Errorf("enroll secret: %w", err)
	}
	secret := NewCredential(PrefixSecret)
	_, err := s.w.ExecContext(ctx, s.q("INSERT INTO enroll_secrets (name, hash, created_at) VALUES (?, ?, ?)"),
		name, HashCredential(secret), time.Now().UnixMilli())
	if err != nil {
		if s.isUniqueViolation(err) {
			return "", fmt.Errorf("enroll secret %q %w: pick another name or revoke it first", name, ErrExists)
		}
		return "", fmt.Errorf("add enroll secret %q: %w", name, err)
	}
	return secret, nil
}

// ListSecrets lists enroll secrets, revoked ones included.
func (s *Store) ListSecrets(ctx context.Context) ([]Credential, error) {
	return s.listCreds(ctx, "SELECT name, '', created_at, revoked_at FROM enroll_secrets ORDER BY name")
}

// RevokeSecret revokes an enroll secret at once. Hosts enrolled with it
// keep their node keys.
func (s *Store) RevokeSecret(ctx context.Context, name string) error {
	return s.revoke(ctx, "enroll_secrets", "enroll secret", name)
}

// CheckSecret returns the name of the active enroll secret matching secret.
// Only values with the enroll-secret prefix can match: a node key or an API
// token is never an enroll secret.
func (s *Store) CheckSecret(ctx context.Context, secret string) (string, error) {
	if !strings.HasPrefix(secret, PrefixSecret) {
		return "", ErrNotFound
	}
	h := HashCredential(secret)
	var name, stored string
	err := s.r.QueryRowContext(ctx, s.q("SELECT name, hash FROM enroll_secrets WHERE hash = ? AND revoked_at IS NULL"), h).Scan(&name, &stored)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !sameHash(stored, h)) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("check enroll secret: %w", err)
	}
	return name, nil
}

// AddToken creates a dashboard API token with role admin or viewer and
// returns it; it is shown once and stored only as a hash.
func (s *Store) AddToken(ctx context.Context, name, role string) (string, error) {
	if err := ValidName(name); err != nil {
		return "", fmt.Errorf("API token: %w", err)
	}
	if role != RoleAdmin && role != RoleViewer {
		return "", fmt.Errorf("API token role %q: use admin or viewer", role)
	}
	tok := NewCredential(PrefixToken)
	_, err := s.w.ExecContext(ctx, s.q("INSERT INTO api_tokens (name, role, hash, created_at) VALUES (?, ?, ?, ?)"),
		name, role, HashCredential(tok), time.Now().UnixMilli())
	if err != nil {
		if s.isUniqueViolation(err) {
			return "", fmt.Errorf("API token %q %w: pick another name or revoke it first", name, ErrExists)
		}
		return "", fmt.Errorf("add API token %q: %w", name, err)
	}
	return tok, nil
}

// ListTokens lists API tokens, revoked ones included.
func (s *Store) ListTokens(ctx context.Context) ([]Credential, error) {
	return s.listCreds(ctx, "SELECT name, role, created_at, revoked_at FROM api_tokens ORDER BY name")
}

// RevokeToken revokes an API token at once, and ends the dashboard
// sessions opened with it.
func (s *Store) RevokeToken(ctx context.Context, name string) error {
	if err := s.revoke(ctx, "api_tokens", "API token", name); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, s.q("UPDATE dashboard_sessions SET revoked_at = ? WHERE token_name = ? AND revoked_at IS NULL"),
		time.Now().UnixMilli(), name)
	if err != nil {
		return fmt.Errorf("revoke API token %q: end its dashboard sessions: %w", name, err)
	}
	return nil
}

// CheckToken returns the name and role of the active token matching tok.
// Only values with the token prefix can match: a node key or an enroll
// secret is never a dashboard token.
func (s *Store) CheckToken(ctx context.Context, tok string) (name, role string, err error) {
	if !strings.HasPrefix(tok, PrefixToken) {
		return "", "", ErrNotFound
	}
	h := HashCredential(tok)
	var stored string
	err = s.r.QueryRowContext(ctx, s.q("SELECT name, role, hash FROM api_tokens WHERE hash = ? AND revoked_at IS NULL"), h).Scan(&name, &role, &stored)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !sameHash(stored, h)) {
		return "", "", ErrNotFound
	}
	if err != nil {
		return "", "", fmt.Errorf("check API token: %w", err)
	}
	return name, role, nil
}

// CheckNodeKey returns the id of the host that holds nodeKey. Only values
// with the node-key prefix can match: a dashboard token is never a node key.
func (s *Store) CheckNodeKey(ctx context.Context, nodeKey string) (int64, error) {
	if !IsNodeKey(nodeKey) {
		return 0, ErrNotFound
	}
	h := HashCredential(nodeKey)
	var id int64
	var stored string
	err := s.r.QueryRowContext(ctx, s.q("SELECT id, node_key_hash FROM hosts WHERE node_key_hash = ?"), h).Scan(&id, &stored)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !sameHash(stored, h)) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("check node key: %w", err)
	}
	return id, nil
}

func (s *Store) listCreds(ctx context.Context, query string) ([]Credential, error) {
	rows, err := s.r.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	defer rows.Close()
	var out []Credential
	for rows.Next() {
		var c Credential
		var created int64
		var revoked sql.NullInt64
		if err := rows.Scan(&c.Name, &c.Role, &created, &revoked); err != nil {
			return nil, fmt.Errorf("list credentials: %w", err)
		}
		c.CreatedAt = fromMS(created)
		if revoked.Valid {
			c.RevokedAt = fromMS(revoked.Int64)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *Store) revoke(ctx context.Context, table, what, name string) error {
	res, err := s.w.ExecContext(ctx, s.q("UPDATE "+table+" SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL"),
		time.Now().UnixMilli(), name)
	if err != nil {
		return fmt.Errorf("revoke %s %q: %w", what, name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoke %s %q: %w (or already revoked)", what, name, ErrNotFound)
	}
	return nil
}

// isUniqueViolation recognizes a unique-constraint error on either dialect.
func (s *Store) isUniqueViolation(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}
