package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/anchorwatch/anchorwatch/server/api"
	"github.com/anchorwatch/anchorwatch/server/store"
)

// Identity is who made a dashboard request.
type Identity struct {
	Name string
	Role string // store.RoleAdmin or store.RoleViewer
}

type identityKey struct{}

// IdentityFrom returns the identity the collector authenticated for r's
// context (inside dashboard handlers).
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// ErrNoCredential and ErrBadCredential are returned by Authenticate.
var (
	ErrNoCredential  = errors.New("no credential: send Authorization: Bearer <token>")
	ErrBadCredential = errors.New("unknown or revoked token")
)

// bearer returns the token of an "Authorization: Bearer …" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// Authenticate checks the dashboard token of r (Authorization: Bearer, or
// the cookie "anchorwatch_token" of the web dashboard, for GET only) against the
// database, so a revoked token stops working at once on every collector.
func (s *Server) Authenticate(r *http.Request) (Identity, error) {
	tok := bearer(r)
	// The cookie counts for reads only, so a cross-site form cannot
	// make an admin's browser change anything.
	if tok == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		if c, err := r.Cookie("anchorwatch_token"); err == nil {
			tok = c.Value
		}
	}
	if tok == "" {
		return Identity{}, ErrNoCredential
	}
	// A node key is never a dashboard token (store.CheckToken only
	// matches the token prefix, too).
	if len(tok) > 256 || !strings.HasPrefix(tok, store.PrefixToken) {
		return Identity{}, ErrBadCredential
	}
	name, role, err := s.st.CheckToken(r.Context(), tok)
	if errors.Is(err, store.ErrNotFound) {
		return Identity{}, ErrBadCredential
	}
	if err != nil {
		return Identity{}, err
	}
	return Identity{Name: name, Role: role}, nil
}

// role wraps fn so that it runs only for a token of at least role: a
// viewer token reads, an admin token reads and writes.
func (s *Server) role(role string, fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := s.Authenticate(r)
		switch {
		case errors.Is(err, ErrNoCredential), errors.Is(err, ErrBadCredential):
			w.Header().Set("WWW-Authenticate", `Bearer realm="anchorwatch"`)
			writeError(w, http.StatusUnauthorized, api.ErrUnauthorized, err.Error())
			return
		case err != nil:
			s.log.Error("authenticate", "err", err)
			writeError(w, http.StatusServiceUnavailable, api.ErrInternal, "could not check the token: database unavailable")
			return
		}
		if role == store.RoleAdmin && id.Role != store.RoleAdmin {
			writeError(w, http.StatusForbidden, api.ErrForbidden, "this needs an admin token; "+id.Role+" tokens can only read")
			return
		}
		fn(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	}
}
