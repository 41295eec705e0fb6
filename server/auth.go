package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/db"
	"github.com/anchorwatch/anchorwatch/server/throttle"
)

// Identity is who made a dashboard request.
type Identity struct {
	Name string
	Role string // db.RoleAdmin or db.RoleViewer
	// csrf is the anti-forgery value of the dashboard session the request
	// came with ("" for a bearer token): whoami hands it to the page.
	csrf string
}

// CSRFHeader carries a dashboard session's anti-forgery value
// (db.SessionCSRF, from GET /api/v1/whoami) on the few writes the
// dashboard may make with its session cookie: the host lifecycle actions
// of an admin (retire, delete, merge, revoke a node key).
const CSRFHeader = "X-Anchorwatch-CSRF"

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

// ThrottledError is returned by Authenticate while the request's source
// (or the credential's prefix) has failed too often: nothing is checked
// until Wait has passed.
type ThrottledError struct{ Wait time.Duration }

func (e *ThrottledError) Error() string {
	return "too many failed attempts from this address: retry in " + throttle.RetryAfter(e.Wait) + "s"
}

// bearer returns the token of an "Authorization: Bearer …" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// Authenticate checks the credential of r against the database, so a
// revoked token or an ended session stops working at once on every
// collector: an API token (Authorization: Bearer), or the web dashboard's
// session cookie (api.SessionCookie, for GET and HEAD only, so a
// cross-site form cannot make a signed-in browser change anything).
// Failures count against the source address and the credential's prefix
// (throttle); past a few, it answers a *ThrottledError without checking.
func (s *Server) Authenticate(r *http.Request) (Identity, error) {
	return s.authenticate(r, false)
}

// authenticate is Authenticate; sessionWrite also accepts the session
// cookie on a write that carries the session's anti-forgery header and
// comes from the dashboard's own origin.
func (s *Server) authenticate(r *http.Request, sessionWrite bool) (Identity, error) {
	cred, session := bearer(r), false
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	if cred == "" && (read || sessionWrite && sameOriginWrite(r)) {
		if c, err := r.Cookie(api.SessionCookie); err == nil {
			cred, session = c.Value, true
		}
	}
	if cred == "" {
		return Identity{}, ErrNoCredential
	}
	now := time.Now()
	keys := throttle.Keys("dashboard", throttle.Source(r, s.cfg.TrustedProxies), cred)
	if wait := s.lim.Wait(now, keys...); wait > 0 {
		return Identity{}, &ThrottledError{Wait: wait}
	}
	var name, role string
	var err error
	switch {
	case len(cred) > 256:
		err = db.ErrNotFound
	case session && !read && subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(db.SessionCSRF(cred))) != 1:
		err = db.ErrNotFound // a forged write: counted like a wrong credential
	case session:
		name, role, err = s.st.CheckSession(r.Context(), cred, now)
	default:
		// A node key or a session id is never a dashboard token
		// (CheckToken only matches the token prefix).
		name, role, err = s.st.CheckToken(r.Context(), cred)
	}
	if errors.Is(err, db.ErrNotFound) {
		s.lim.Fail(now, keys...)
		return Identity{}, ErrBadCredential
	}
	if err != nil {
		return Identity{}, err
	}
	id := Identity{Name: name, Role: role}
	if session {
		id.csrf = db.SessionCSRF(cred)
	}
	return id, nil
}

// sameOriginWrite reports whether a write comes from a page of this
// collector: browsers send Sec-Fetch-Site (which decides) or an Origin
// naming this host. A request with neither is not a browser's, and gets
// no cookie authority.
func sameOriginWrite(r *http.Request) bool {
	if v := r.Header.Get("Sec-Fetch-Site"); v != "" {
		return v == "same-origin"
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// role wraps fn so that it runs only for a token of at least role: a
// viewer token reads, an admin token reads and writes.
func (s *Server) role(role string, fn http.HandlerFunc) http.HandlerFunc {
	return s.roleWith(role, false, fn)
}

// sessionAdmin is role(admin) for the writes the dashboard makes itself:
// an admin's session cookie is accepted with its anti-forgery header.
func (s *Server) sessionAdmin(fn http.HandlerFunc) http.HandlerFunc {
	return s.roleWith(db.RoleAdmin, true, fn)
}

func (s *Server) roleWith(role string, sessionWrite bool, fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := s.authenticate(r, sessionWrite)
		var te *ThrottledError
		switch {
		case errors.As(err, &te):
			w.Header().Set("Retry-After", throttle.RetryAfter(te.Wait))
			writeError(w, http.StatusTooManyRequests, api.ErrTooMany, te.Error())
			return
		case errors.Is(err, ErrNoCredential), errors.Is(err, ErrBadCredential):
			w.Header().Set("WWW-Authenticate", `Bearer realm="anchorwatch"`)
			writeError(w, http.StatusUnauthorized, api.ErrUnauthorized, err.Error())
			return
		case err != nil:
			s.errs.failed(slog.LevelError, "authenticate: database unavailable", err)
			w.Header().Set("Retry-After", RetryAfter)
			writeError(w, http.StatusServiceUnavailable, api.ErrUnavailable, "could not check the token: database unavailable")
			return
		}
		if role == db.RoleAdmin && id.Role != db.RoleAdmin {
			writeError(w, http.StatusForbidden, api.ErrForbidden, "this needs an admin token; "+id.Role+" tokens can only read")
			return
		}
		fn(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	}
}
