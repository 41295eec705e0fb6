package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/db"
	"github.com/anchorwatch/anchorwatch/server/throttle"
)

//go:embed assets
var assetFS embed.FS

// CookieName is the session cookie: a random session id (never the API
// token) the collector checks, for GET and HEAD only, against its
// sessions table.
const CookieName = api.SessionCookie

// loginCookie carries the sign-in form's anti-forgery value (double
// submit: the form's hidden "csrf" field must equal it).
const loginCookie = "anchorwatch_login"

// maxToken bounds a token the login form accepts (the collector refuses
// longer ones too).
const maxToken = 256

// Sessions is what the dashboard needs of the collector's store
// (*db.Store implements it): open a session for an API token, check
// one, end one, and check a bearer token (scripts). An unknown, revoked,
// ended or expired credential is db.ErrNotFound.
type Sessions interface {
	CheckToken(ctx context.Context, token string) (name, role string, err error)
	CreateSession(ctx context.Context, token string, lim db.SessionLimits, now time.Time) (string, error)
	CheckSession(ctx context.Context, id string, now time.Time) (name, role string, err error)
	EndSession(ctx context.Context, id string) error
}

// Options configure the dashboard.
type Options struct {
	// Sessions opens and checks sign-in sessions; required.
	Sessions Sessions
	// SessionIdle and SessionMax end a session after that long without a
	// request, and that long after sign-in (defaults 1h and 12h).
	SessionIdle, SessionMax time.Duration
	// Limiter throttles failed sign-ins per source address and token
	// prefix; pass the collector's (server.Config.Limiter) so that the
	// sign-in form and the API share the count. Default: one of its own.
	Limiter *throttle.Limiter
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client.
	TrustedProxies []netip.Prefix
	// Logger receives errors (the database unavailable); default slog.Default().
	Logger *slog.Logger
	// Title names the collector in the page header and tab (default
	// "Anchorwatch").
	Title string
}

// ui serves the dashboard.
type ui struct {
	opts   Options
	log    *slog.Logger
	lim    *throttle.Limiter
	index  []byte
	login  *template.Template
	assets map[string]asset
}

// asset is an embedded file, read once, with its ETag.
type asset struct {
	data []byte
	ct   string
	etag string
}

// Handler returns the dashboard's handler, to be served at "/" beside the
// collector's /api/ and /metrics (server.Config.UI). It panics if
// opts.Tokens is nil, a programming error.
func Handler(opts Options) http.Handler {
	if opts.Sessions == nil {
		panic("web: Options.Sessions is required (pass the collector's *db.Store)")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Limiter == nil {
		opts.Limiter = throttle.New(throttle.Options{})
	}
	if opts.Title == "" {
		opts.Title = "Anchorwatch"
	}
	files, err := fs.Sub(assetFS, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	u := &ui{opts: opts, log: opts.Logger, lim: opts.Limiter, assets: map[string]asset{}}
	err = fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || name == "index.html" || name == "login.html" {
			return err
		}
		data, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		u.assets[name] = asset{data: data, ct: contentType(name), etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic(err)
	}
	idx, err := fs.ReadFile(files, "index.html")
	if err != nil {
		panic(err)
	}
	u.index = bytes.ReplaceAll(idx, []byte("{{TITLE}}"), []byte(template.HTMLEscapeString(opts.Title)))
	u.login = template.Must(template.ParseFS(files, "login.html"))
	return u
}

// Security headers of every answer. No inline script or style is allowed;
// the trend chart is SVG built by the script, styled by the stylesheet.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	h.Set("Cache-Control", "no-store")
}

// publicAssets are served without a token: what the login page needs.
var publicAssets = map[string]bool{
	"app.css":     true,
	"login.js":    true,
	"favicon.svg": true,
	"logo.svg":    true,
}

// pageRE matches the dashboard's pages; each is the same shell whose
// script renders the page named by the path.
var pageRE = regexp.MustCompile(`^/(?:|hosts|hosts/[0-9]{1,19}|events|roots|cas|devices|pki)$`)

func (u *ui) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	p := r.URL.Path
	switch {
	case p == "/login":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			u.loginPage(w, r, http.StatusOK, "")
		case http.MethodPost:
			u.loginPost(w, r)
		default:
			methodNotAllowed(w, "GET, HEAD, POST")
		}
		return
	case p == "/logout":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		u.logout(w, r)
		return
	case p == "/favicon.ico":
		http.Redirect(w, r, "/assets/favicon.svg", http.StatusMovedPermanently)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	if name, ok := strings.CutPrefix(p, "/assets/"); ok {
		if !publicAssets[name] && !u.signedIn(w, r) {
			return
		}
		u.asset(w, r, name)
		return
	}
	if !pageRE.MatchString(p) {
		http.Error(w, "404 page not found: the dashboard is at /", http.StatusNotFound)
		return
	}
	if !u.signedIn(w, r) {
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(u.index)
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
}

// credential returns what r authenticates with: a bearer token (scripts
// and curl), or the session cookie.
func credential(r *http.Request) (cred string, session bool) {
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:]), false
	}
	if c, err := r.Cookie(CookieName); err == nil {
		return c.Value, true
	}
	return "", false
}

// errThrottled: too many failed attempts from the request's source.
type errThrottled struct{ wait time.Duration }

func (e *errThrottled) Error() string { return "too many failed attempts" }

// check validates the credential of r; ok is false for a missing,
// unknown, revoked, ended or expired one (a failure, counted), err is set
// when the database could not answer or the source is throttled.
func (u *ui) check(r *http.Request) (ok bool, err error) {
	cred, session := credential(r)
	if cred == "" {
		return false, nil
	}
	now := time.Now()
	keys := throttle.Keys("dashboard", throttle.Source(r, u.opts.TrustedProxies), cred)
	if wait := u.lim.Wait(now, keys...); wait > 0 {
		return false, &errThrottled{wait}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	err = db.ErrNotFound
	switch {
	case len(cred) > maxToken:
	case session:
		_, _, err = u.opts.Sessions.CheckSession(ctx, cred, now)
	default:
		_, _, err = u.opts.Sessions.CheckToken(ctx, cred)
	}
	if errors.Is(err, db.ErrNotFound) {
		u.lim.Fail(now, keys...)
		return false, nil
	}
	return err == nil, err
}

// signedIn reports whether r carries a valid session (or bearer token);
// if not it has answered: a redirect to the login page (a 401 for the
// script), a 429 while the source is throttled, or a 503 when the
// database is down.
func (u *ui) signedIn(w http.ResponseWriter, r *http.Request) bool {
	ok, err := u.check(r)
	var te *errThrottled
	if errors.As(err, &te) {
		w.Header().Set("Retry-After", throttle.RetryAfter(te.wait))
		http.Error(w, "429 too many failed sign-in attempts from your address: try again in "+throttle.RetryAfter(te.wait)+" s", http.StatusTooManyRequests)
		return false
	}
	if err != nil {
		u.log.Error("dashboard: check session", "err", err)
		http.Error(w, "503 the collector could not check your session: its database is unavailable; try again shortly", http.StatusServiceUnavailable)
		return false
	}
	if ok {
		return true
	}
	if strings.HasPrefix(r.URL.Path, "/assets/") {
		http.Error(w, "401 sign in first", http.StatusUnauthorized)
		return false
	}
	if _, err := r.Cookie(CookieName); err == nil {
		clearCookie(w, r, CookieName, "/") // ended, expired or revoked
	}
	http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	return false
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		return ct
	}
	return "application/octet-stream"
}

func (u *ui) asset(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := u.assets[name]
	if !ok {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", a.ct)
	// Assets change with the binary only; revalidate so an upgrade shows.
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", a.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.data))
}

type loginData struct {
	Title string
	Next  string
	Error string
	CSRF  string
}

// loginPage renders the sign-in form with a fresh anti-forgery value, set
// in the login cookie too.
func (u *ui) loginPage(w http.ResponseWriter, r *http.Request, code int, msg string) {
	var buf bytes.Buffer
	next := SafeNext(r.FormValue("next"))
	csrf := newNonce()
	if err := u.login.Execute(&buf, loginData{Title: u.opts.Title, Next: next, Error: msg, CSRF: csrf}); err != nil {
		u.log.Error("dashboard: render login page", "err", err)
		http.Error(w, "500 internal error", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: csrf, Path: "/login", MaxAge: 3600, HttpOnly: true,
		Secure: isTLS(r), SameSite: http.SameSiteStrictMode})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

// newNonce is 256 random bits, base64url.
func newNonce() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// formFromLoginPage reports whether a sign-in post carries the
// anti-forgery value of a login page this browser loaded.
func formFromLoginPage(r *http.Request) bool {
	c, err := r.Cookie(loginCookie)
	f := r.PostForm.Get("csrf")
	return err == nil && len(c.Value) >= 32 && subtle.ConstantTimeCompare([]byte(c.Value), []byte(f)) == 1
}

// sameOrigin refuses a cross-site form post (login CSRF: signing a
// victim's browser into the attacker's token). Browsers send
// Sec-Fetch-Site, which decides; without it the Origin must be this
// host (with Referrer-Policy no-referrer a form's Origin is "null", which
// is refused). A request with neither header (curl) passes.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		return s == "same-origin" || s == "none"
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	ou, err := url.Parse(o)
	return err == nil && ou.Host != "" && strings.EqualFold(ou.Host, r.Host)
}

// validTokenSyntax accepts what can be stored in a cookie unchanged.
func validTokenSyntax(tok string) bool {
	if tok == "" || len(tok) > maxToken {
		return false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}

func (u *ui) loginPost(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "403 cross-site sign-in refused: open the dashboard and sign in there", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "400 bad sign-in form: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !formFromLoginPage(r) {
		http.Error(w, "403 this sign-in did not come from the dashboard's login page (or it was open for over an hour): open /login and sign in there", http.StatusForbidden)
		return
	}
	now := time.Now()
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	keys := throttle.Keys("dashboard", throttle.Source(r, u.opts.TrustedProxies), tok)
	if wait := u.lim.Wait(now, keys...); wait > 0 {
		w.Header().Set("Retry-After", throttle.RetryAfter(wait))
		u.loginPage(w, r, http.StatusTooManyRequests, "Too many failed sign-ins from your address. Try again in "+throttle.RetryAfter(wait)+" seconds.")
		return
	}
	if !validTokenSyntax(tok) {
		u.lim.Fail(now, keys...)
		u.loginPage(w, r, http.StatusUnauthorized, "That is not an API token. Paste the value printed by `anchorwatch collector token add`.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	id, err := u.opts.Sessions.CreateSession(ctx, tok, db.SessionLimits{Idle: u.opts.SessionIdle, Max: u.opts.SessionMax}, now)
	if errors.Is(err, db.ErrNotFound) {
		u.lim.Fail(now, keys...)
		u.loginPage(w, r, http.StatusUnauthorized, "Unknown or revoked token. Ask an administrator for a viewer token.")
		return
	}
	if err != nil {
		u.log.Error("dashboard: open session", "err", err)
		u.loginPage(w, r, http.StatusServiceUnavailable, "The collector could not check the token: its database is unavailable. Try again shortly.")
		return
	}
	// A browser-session cookie; the collector ends the session itself
	// (idle and absolute expiry, sign-out, token revocation).
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: id, Path: "/", HttpOnly: true,
		Secure: isTLS(r), SameSite: http.SameSiteStrictMode})
	clearCookie(w, r, loginCookie, "/login")
	http.Redirect(w, r, SafeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

// logout ends the session on the collector and clears the cookie.
func (u *ui) logout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "403 cross-site sign-out refused", http.StatusForbidden)
		return
	}
	if c, err := r.Cookie(CookieName); err == nil {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		if err := u.opts.Sessions.EndSession(ctx, c.Value); err != nil {
			u.log.Error("dashboard: end session", "err", err)
			http.Error(w, "503 the collector could not end your session: its database is unavailable; try again shortly", http.StatusServiceUnavailable)
			return
		}
	}
	clearCookie(w, r, CookieName, "/")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func clearCookie(w http.ResponseWriter, r *http.Request, name, path string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1, HttpOnly: true,
		Secure: isTLS(r), SameSite: http.SameSiteStrictMode})
}

// isTLS reports whether the browser reached the collector over TLS
// (directly, or through a proxy that says so).
func isTLS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// SafeNext returns next if it is a path on this site (where to go after
// signing in), "/" otherwise: never another host (an open redirect).
func SafeNext(next string) string {
	if next == "" || len(next) > 2048 || next[0] != '/' {
		return "/"
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	if strings.HasPrefix(u.Path, "/login") || strings.HasPrefix(u.Path, "/logout") {
		return "/"
	}
	return next
}
