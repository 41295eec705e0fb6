package web_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/db"
	"github.com/anchorwatch/anchorwatch/server/throttle"
	"github.com/anchorwatch/anchorwatch/server/web"
)

// fakeSessions knows one token and keeps sessions in memory; down makes
// it fail as a database would. (The tests against a real collector use
// the store's sessions: signin_test.go, TestNoTokenNoData.)
type fakeSessions struct {
	good string
	down bool
	mu   sync.Mutex
	open map[string]bool
}

var errDown = errors.New("database is locked")

func newFake(good string) *fakeSessions { return &fakeSessions{good: good, open: map[string]bool{}} }

func (f *fakeSessions) CheckToken(_ context.Context, tok string) (string, string, error) {
	if f.down {
		return "", "", errDown
	}
	if tok == f.good {
		return "alice", db.RoleViewer, nil
	}
	return "", "", db.ErrNotFound
}

func (f *fakeSessions) CreateSession(ctx context.Context, tok string, _ db.SessionLimits, _ time.Time) (string, error) {
	if _, _, err := f.CheckToken(ctx, tok); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := db.NewCredential(db.PrefixSession)
	f.open[id] = true
	return id, nil
}

func (f *fakeSessions) CheckSession(_ context.Context, id string, _ time.Time) (string, string, error) {
	if f.down {
		return "", "", errDown
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.open[id] {
		return "alice", db.RoleViewer, nil
	}
	return "", "", db.ErrNotFound
}

func (f *fakeSessions) EndSession(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.open, id)
	return nil
}

// session opens a session for the good token.
func (f *fakeSessions) session(t *testing.T) string {
	t.Helper()
	id, err := f.CreateSession(context.Background(), f.good, db.SessionLimits{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

const goodToken = "awt_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"

// csrfValue stands for the anti-forgery value a login page handed out.
const csrfValue = "csrf-0123456789abcdefghijklmnopqrstuvwxyz"

// fromLoginPage adds the login page's cookie, as the browser that loaded
// it sends it back.
func fromLoginPage(r *http.Request) {
	r.AddCookie(&http.Cookie{Name: "anchorwatch_login", Value: csrfValue})
}

func serve(h http.Handler, method, target string, mod func(*http.Request)) *httptest.ResponseRecorder {
	var body io.Reader
	if i := strings.IndexByte(target, ' '); i >= 0 {
		target, body = target[:i], strings.NewReader(target[i+1:])
	}
	r := httptest.NewRequest(method, target, body)
	if body != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if mod != nil {
		mod(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func withCookie(tok string) func(*http.Request) {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: web.CookieName, Value: tok}) }
}

func TestHandlerRoutes(t *testing.T) {
	f := newFake(goodToken)
	h := web.Handler(web.Options{Sessions: f})
	good := f.session(t)
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+goodToken) }
	tests := []struct {
		name, method, target string
		mod                  func(*http.Request)
		code                 int
		location             string // prefix
		bodyHas              string
	}{
		{"overview without token", "GET", "/", nil, 303, "/login?next=%2F", ""},
		{"hosts keeps its query", "GET", "/hosts?status=error", nil, 303, "/login?next=%2Fhosts%3Fstatus%3Derror", ""},
		{"host detail", "GET", "/hosts/12", nil, 303, "/login?next=", ""},
		{"events", "GET", "/events", nil, 303, "/login", ""},
		{"roots", "GET", "/roots", nil, 303, "/login", ""},
		{"cas", "GET", "/cas", nil, 303, "/login", ""},
		{"devices", "GET", "/devices", nil, 303, "/login", ""},
		{"wrong cookie", "GET", "/hosts", withCookie("awd_wrong"), 303, "/login", ""},
		{"the token as the cookie", "GET", "/hosts", withCookie(goodToken), 303, "/login", ""},
		{"app script needs a token", "GET", "/assets/app.js", nil, 401, "", ""},
		{"index asset is not public", "GET", "/assets/index.html", withCookie(good), 404, "", ""},
		{"template is not served", "GET", "/assets/login.html", withCookie(good), 404, "", ""},
		{"dot-dot", "GET", "/assets/../web.go", withCookie(good), 404, "", ""},
		{"login page", "GET", "/login", nil, 200, "", `action="/login"`},
		{"login script public", "GET", "/assets/login.js", nil, 200, "", "token="},
		{"stylesheet public", "GET", "/assets/app.css", nil, 200, "", ":root"},
		{"logo public", "GET", "/assets/logo.svg", nil, 200, "", "<svg"},
		{"favicon", "GET", "/favicon.ico", nil, 301, "/assets/favicon.svg", ""},
		{"overview with cookie", "GET", "/", withCookie(good), 200, "", `src="/assets/app.js"`},
		{"hosts with bearer", "GET", "/hosts", bearer, 200, "", `<main id="main"`},
		{"head with cookie", "HEAD", "/cas", withCookie(good), 200, "", ""},
		{"app script with cookie", "GET", "/assets/app.js", withCookie(good), 200, "", "textContent"},
		{"unknown page", "GET", "/nope", withCookie(good), 404, "", ""},
		{"bad host id", "GET", "/hosts/abc", withCookie(good), 404, "", ""},
		{"post to a page", "POST", "/hosts", withCookie(good), 405, "", ""},
		{"get logout", "GET", "/logout", withCookie(good), 405, "", ""},
		{"delete login", "DELETE", "/login", nil, 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(h, tt.method, tt.target, tt.mod)
			if w.Code != tt.code {
				t.Fatalf("%s %s: %d, want %d (%s)", tt.method, tt.target, w.Code, tt.code, w.Body)
			}
			if loc := w.Header().Get("Location"); !strings.HasPrefix(loc, tt.location) {
				t.Errorf("Location %q, want %q…", loc, tt.location)
			}
			if !strings.Contains(w.Body.String(), tt.bodyHas) {
				t.Errorf("body lacks %q:\n%.300s", tt.bodyHas, w.Body)
			}
			checkSecurityHeaders(t, w.Header())
		})
	}
}

func checkSecurityHeaders(t *testing.T, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, part := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, part) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, part)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "http") {
		t.Errorf("Content-Security-Policy %q allows inline code or another origin", csp)
	}
	for k, want := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}

func TestAssetRevalidation(t *testing.T) {
	h := web.Handler(web.Options{Sessions: newFake(goodToken)})
	w := serve(h, "GET", "/assets/app.css", nil)
	etag := w.Header().Get("ETag")
	if w.Code != 200 || etag == "" || w.Header().Get("Content-Type") != "text/css; charset=utf-8" {
		t.Fatalf("app.css: %d, ETag %q, Content-Type %q", w.Code, etag, w.Header().Get("Content-Type"))
	}
	w = serve(h, "GET", "/assets/app.css", func(r *http.Request) { r.Header.Set("If-None-Match", etag) })
	if w.Code != http.StatusNotModified {
		t.Errorf("app.css with its ETag: %d, want 304", w.Code)
	}
}

func TestHandlerDatabaseDown(t *testing.T) {
	f := newFake(goodToken)
	f.down = true
	h := web.Handler(web.Options{Sessions: f, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if w := serve(h, "GET", "/hosts", withCookie("awd_some-session")); w.Code != http.StatusServiceUnavailable {
		t.Errorf("page while the database is down: %d, want 503", w.Code)
	}
	w := serve(h, "POST", "/login token="+goodToken+"&csrf="+csrfValue, fromLoginPage)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "database is unavailable") {
		t.Errorf("sign-in while the database is down: %d %s", w.Code, w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == web.CookieName {
			t.Error("a session cookie was set although the token could not be checked")
		}
	}
}

func TestLogin(t *testing.T) {
	f := newFake(goodToken)
	h := web.Handler(web.Options{Sessions: f})
	form := func(tok, next string) string {
		return "/login " + url.Values{"token": {tok}, "next": {next}, "csrf": {csrfValue}}.Encode()
	}
	tests := []struct {
		name     string
		target   string
		mod      func(*http.Request)
		code     int
		location string
		cookie   bool
		bodyHas  string
	}{
		{"good token", form(goodToken, "/hosts?status=error"), nil, 303, "/hosts?status=error", true, ""},
		{"good token, same-origin browser", form(goodToken, "/cas"), func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-origin"); r.Header.Set("Origin", "null") }, 303, "/cas", true, ""},
		{"surrounding spaces", form(" "+goodToken+"\n", "/"), nil, 303, "/", true, ""},
		{"unknown token", form("awt_nope", "/"), nil, 401, "", false, "Unknown or revoked token"},
		{"empty", form("", "/"), nil, 401, "", false, "not an API token"},
		{"cookie-breaking token", form("a;b=c", "/"), nil, 401, "", false, "not an API token"},
		{"huge token", form(strings.Repeat("a", 300), "/"), nil, 401, "", false, "not an API token"},
		{"open redirect", form(goodToken, "//evil.example/x"), nil, 303, "/", true, ""},
		{"open redirect backslash", form(goodToken, "/\\evil.example"), nil, 303, "/", true, ""},
		{"absolute next", form(goodToken, "https://evil.example/"), nil, 303, "/", true, ""},
		{"cross-site post", form(goodToken, "/"), func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, 403, "", false, "cross-site"},
		{"foreign origin", form(goodToken, "/"), func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }, 403, "", false, ""},
		{"null origin without fetch metadata", form(goodToken, "/"), func(r *http.Request) { r.Header.Set("Origin", "null") }, 403, "", false, ""},
		{"same origin", form(goodToken, "/"), func(r *http.Request) { r.Header.Set("Origin", "http://example.com") }, 303, "/", true, ""},
		{"xss in next is escaped", form("awt_nope", `/"><script>alert(1)</script>`), nil, 401, "", false, "&lt;script&gt;"},
		{"not from the login page", "/login " + url.Values{"token": {goodToken}}.Encode(), nil, 403, "", false, "login page"},
		{"another page's anti-forgery value", "/login " + url.Values{"token": {goodToken}, "csrf": {csrfValue + "x"}}.Encode(), nil, 403, "", false, "login page"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(h, "POST", tt.target, func(r *http.Request) {
				fromLoginPage(r)
				if tt.mod != nil {
					tt.mod(r)
				}
			})
			if w.Code != tt.code {
				t.Fatalf("%d, want %d: %s", w.Code, tt.code, w.Body)
			}
			if tt.location != "" && w.Header().Get("Location") != tt.location {
				t.Errorf("Location %q, want %q", w.Header().Get("Location"), tt.location)
			}
			var c *http.Cookie
			for _, ck := range w.Result().Cookies() {
				if ck.Name == web.CookieName {
					c = ck
				}
			}
			if (c != nil) != tt.cookie {
				t.Fatalf("cookie set: %v, want %v", c != nil, tt.cookie)
			}
			if c != nil && (!strings.HasPrefix(c.Value, db.PrefixSession) || strings.Contains(c.Value, goodToken) || !c.HttpOnly ||
				c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.MaxAge != 0) {
				t.Errorf("cookie %+v: want a session id (never the token), HttpOnly, SameSite=Strict, Path=/, a browser-session cookie", c)
			}
			if !strings.Contains(w.Body.String(), tt.bodyHas) {
				t.Errorf("body lacks %q:\n%.500s", tt.bodyHas, w.Body)
			}
			if strings.Contains(w.Body.String(), "<script>alert") {
				t.Error("next is reflected unescaped")
			}
			checkSecurityHeaders(t, w.Header())
		})
	}
	// Logout ends the session and clears the cookie.
	id := f.session(t)
	w := serve(h, "POST", "/logout", withCookie(id))
	cs := w.Result().Cookies()
	if w.Code != http.StatusSeeOther || len(cs) != 1 || cs[0].Name != web.CookieName || cs[0].MaxAge >= 0 || cs[0].Value != "" {
		t.Errorf("logout: %d %v", w.Code, cs)
	}
	if _, _, err := f.CheckSession(context.Background(), id, time.Now()); err == nil {
		t.Error("the session is still open after sign-out")
	}
}

// TestNoTokenNoData runs against a real collector with a fleet: without
// a valid token no page, script or API answer carries data; with the
// cookie the API answers; a revoked token stops at the next request.
func TestNoTokenNoData(t *testing.T) {
	// Many wrong cookies from one address: a limiter that never throttles
	// (TestBruteForce covers throttling).
	c := startDashboard(t, web.Options{Limiter: throttle.New(throttle.Options{Free: 1 << 30})})
	fillFleet(t, c)
	noRedirect := func(req *http.Request, via []*http.Request) error { return http.ErrUseLastResponse }
	base := c.Client()
	client := &http.Client{Transport: base.Transport, CheckRedirect: noRedirect}
	get := func(path string, cookie string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", c.URL+path, nil)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: web.CookieName, Value: cookie})
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	pages := []string{"/", "/hosts", "/hosts/1", "/events", "/roots", "/cas", "/devices", "/assets/app.js"}
	dataPaths := []string{api.PathSummary, api.PathHosts, api.PathHostsCSV, api.PathHosts + "/1", api.PathEvents, api.PathCAs, api.PathRoots, api.PathTrend, api.PathWhoAmI}
	for _, cookie := range []string{"", "awd_forged", c.ViewerToken, c.EnrollSecret} {
		for _, p := range pages {
			resp, body := get(p, cookie)
			if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s with cookie %q: %d, want a redirect to /login or 401", p, cookie, resp.StatusCode)
			}
			if strings.Contains(body, "corp.example") || strings.Contains(body, "fetch(") {
				t.Errorf("%s with cookie %q serves data or the application: %.200s", p, cookie, body)
			}
		}
		for _, p := range dataPaths {
			resp, body := get(p, cookie)
			if resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "corp.example") {
				t.Errorf("%s with cookie %q: %d %.200s, want 401 and no data", p, cookie, resp.StatusCode, body)
			}
		}
	}
	// Sign in like the form does; the jar then carries the cookie.
	browser := browserClient(c)
	resp := signIn(t, c, browser, c.ViewerToken)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/hosts" {
		t.Fatalf("sign-in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var secure bool
	for _, ck := range resp.Cookies() {
		secure = secure || (ck.Name == web.CookieName && ck.Secure)
	}
	if !secure {
		t.Error("over TLS the session cookie must be Secure")
	}
	for _, p := range append(append([]string{}, pages...), api.PathSummary, api.PathHosts+"?limit=5") {
		resp, err := browser.Get(c.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("signed in, %s: %d", p, resp.StatusCode)
		}
	}
	// The cookie never authorizes a write.
	req, _ := http.NewRequest("POST", c.URL+api.PathTokens, strings.NewReader(`{"name":"x","role":"admin"}`))
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("admin write with only the dashboard cookie: %d, want 401", resp.StatusCode)
	}
	// Revoke: the next page load goes back to the login page.
	if err := c.Store.RevokeToken(context.Background(), "viewer"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/hosts", api.PathSummary} {
		resp, err := browser.Get(c.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("revoked token, %s: %d", p, resp.StatusCode)
		}
	}
}

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/hosts?status=error&os=linux", "/hosts?status=error&os=linux"},
		{"/hosts/12", "/hosts/12"},
		{"//evil.example", "/"},
		{"/\\evil.example", "/"},
		{"https://evil.example/", "/"},
		{"javascript:alert(1)", "/"},
		{"hosts", "/"},
		{"/login?next=/x", "/"},
		{"/logout", "/"},
		{"/a\nb", "/"},
		{"/a\\b", "/"},
		{"/" + strings.Repeat("a", 3000), "/"},
	}
	for _, tt := range tests {
		if got := web.SafeNext(tt.in); got != tt.want {
			t.Errorf("SafeNext(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "/hosts?x=1", "//evil", "/\\evil", "https://x/", "/%2F%2Fevil", "/\t/evil", "/login"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := web.SafeNext(next)
		if got == "/" {
			return
		}
		if got != next || got[0] != '/' || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n\t") {
			t.Fatalf("SafeNext(%q) = %q", next, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" {
			t.Fatalf("SafeNext(%q) = %q leaves the site (%v)", next, got, err)
		}
		// What a browser resolves against the collector stays on it.
		base, _ := url.Parse("https://collector.example:8443/login")
		if r := base.ResolveReference(u); r.Host != base.Host {
			t.Fatalf("SafeNext(%q) = %q resolves to %s", next, got, r)
		}
	})
}

func BenchmarkPage(b *testing.B) {
	h := web.Handler(web.Options{Sessions: newFake(goodToken)})
	r := httptest.NewRequest("GET", "/hosts?status=error", nil)
	r.AddCookie(&http.Cookie{Name: web.CookieName, Value: goodToken})
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

func BenchmarkAsset(b *testing.B) {
	h := web.Handler(web.Options{Sessions: newFake(goodToken)})
	r := httptest.NewRequest("GET", "/assets/app.js", nil)
	r.AddCookie(&http.Cookie{Name: web.CookieName, Value: goodToken})
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
