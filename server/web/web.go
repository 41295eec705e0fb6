package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/server/store"
)

//go:embed assets
var assetFS embed.FS

// CookieName is the session cookie holding the dashboard token; the
// collector reads it (for GET and HEAD only) as it reads a bearer token.
const CookieName = "anchorwatch_token"

// maxToken bounds a token the login form accepts (the collector refuses
// longer ones too).
const maxToken = 256

// TokenChecker checks a dashboard API token. *store.Store implements it;
// an unknown or revoked token is store.ErrNotFound.
type TokenChecker interface {
	CheckToken(ctx context.Context, token string) (name, role string, err error)
}

// Options configure the dashboard.
type Options struct {
	// Tokens checks the token of every page request; required.
	Tokens TokenChecker
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
	if opts.Tokens == nil {
		panic("web: Options.Tokens is required (pass the collector's *store.Store)")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Title == "" {
		opts.Title = "Anchorwatch"
	}
	files, err := fs.Sub(assetFS, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	u := &ui{opts: opts, log: opts.Logger, assets: map[string]asset{}}
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

// requestToken returns the token of r: the session cookie, or a bearer
// header (scripts and curl).
func requestToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	if c, err := r.Cookie(CookieName); err == nil {
		return c.Value
	}
	return ""
}

// check validates tok; ok is false for a missing, unknown or revoked
// token, err is set when the database could not answer.
func (u *ui) check(ctx context.Context, tok string) (ok bool, err error) {
	if tok == "" || len(tok) > maxToken {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, _, err = u.opts.Tokens.CheckToken(ctx, tok)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// signedIn reports whether r carries a valid token; if not it has
// answered: a redirect to the login page (a 401 for the script), or a 503
// when the database is down.
func (u *ui) signedIn(w http.ResponseWriter, r *http.Request) bool {
	ok, err := u.check(r.Context(), requestToken(r))
	if err != nil {
		u.log.Error("dashboard: check token", "err", err)
		http.Error(w, "503 the collector could not check your token: its database is unavailable; try again shortly", http.StatusServiceUnavailable)
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
		clearCookie(w, r) // revoked or stale
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
}

func (u *ui) loginPage(w http.ResponseWriter, r *http.Request, code int, msg string) {
	var buf bytes.Buffer
	next := SafeNext(r.FormValue("next"))
	if err := u.login.Execute(&buf, loginData{Title: u.opts.Title, Next: next, Error: msg}); err != nil {
		u.log.Error("dashboard: render login page", "err", err)
		http.Error(w, "500 internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
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
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	if !validTokenSyntax(tok) {
		u.loginPage(w, r, http.StatusUnauthorized, "That is not an API token. Paste the value printed by `anchorwatch collector token add`.")
		return
	}
	ok, err := u.check(r.Context(), tok)
	if err != nil {
		u.log.Error("dashboard: check token", "err", err)
		u.loginPage(w, r, http.StatusServiceUnavailable, "The collector could not check the token: its database is unavailable. Try again shortly.")
		return
	}
	if !ok {
		u.loginPage(w, r, http.StatusUnauthorized, "Unknown or revoked token. Ask an administrator for a viewer token.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: tok, Path: "/", HttpOnly: true,
		Secure: isTLS(r), SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, SafeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (u *ui) logout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "403 cross-site sign-out refused", http.StatusForbidden)
		return
	}
	clearCookie(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
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
