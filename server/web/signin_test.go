package web_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/servertest"
	"github.com/anchorwatch/anchorwatch/server/web"
)

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// browserClient is a client with a cookie jar that does not follow
// redirects, as a browser session seen request by request.
func browserClient(c *servertest.Collector) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: c.Client().Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signIn loads the login page and posts its form with tok, as a browser
// does; it returns the answer to the post.
func signIn(t *testing.T, c *servertest.Collector, cl *http.Client, tok string) *http.Response {
	t.Helper()
	resp, err := cl.Get(c.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form := url.Values{"token": {tok}, "next": {"/hosts"}}
	if m := csrfRE.FindSubmatch(page); m != nil {
		form.Set("csrf", string(m[1]))
	}
	resp, err = cl.PostForm(c.URL+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func sessionCookie(resp *http.Response) *http.Cookie {
	for _, ck := range resp.Cookies() {
		if ck.Name == web.CookieName && ck.Value != "" {
			return ck
		}
	}
	return nil
}

func getWith(t *testing.T, c *servertest.Collector, path string, ck *http.Cookie) int {
	t.Helper()
	req, _ := http.NewRequest("GET", c.URL+path, nil)
	if ck != nil {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	cl := &http.Client{Transport: c.Client().Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSessionNotToken: signing in opens a server-side session: the
// cookie is a session id, not the API token; signing out ends it on the
// collector (the cookie value replayed afterwards is refused), and so
// does revoking the token.
func TestSessionNotToken(t *testing.T) {
	c := startDashboard(t)
	cl := browserClient(c)
	resp := signIn(t, c, cl, c.ViewerToken)
	ck := sessionCookie(resp)
	if resp.StatusCode != http.StatusSeeOther || ck == nil {
		t.Fatalf("sign-in: %d, cookie %v", resp.StatusCode, ck)
	}
	if strings.Contains(ck.Value, c.ViewerToken) || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie %+v: want a session id (not the token), HttpOnly, Secure, SameSite=Strict", ck)
	}
	if code := getWith(t, c, api.PathSummary, ck); code != http.StatusOK {
		t.Fatalf("API with the session cookie: %d", code)
	}
	req, _ := http.NewRequest("POST", c.URL+"/logout", nil)
	req.Header.Set("Origin", c.URL)
	if resp, err := cl.Do(req); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %v %v", resp, err)
	}
	for _, p := range []string{"/hosts", api.PathSummary} {
		if code := getWith(t, c, p, ck); code != http.StatusSeeOther && code != http.StatusUnauthorized {
			t.Errorf("%s with the cookie of a signed-out session: %d, want refused", p, code)
		}
	}
	// Revoking the token ends its sessions.
	ck = sessionCookie(signIn(t, c, browserClient(c), c.ViewerToken))
	if ck == nil || getWith(t, c, "/hosts", ck) != http.StatusOK {
		t.Fatal("second sign-in failed")
	}
	if code, body := c.Do(t, "DELETE", api.PathTokens+"/viewer", c.AdminToken, nil); code != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if code := getWith(t, c, api.PathSummary, ck); code != http.StatusUnauthorized {
		t.Errorf("a session of a revoked token: %d, want 401", code)
	}
}

// TestLoginCSRF: a sign-in post that does not come from the login page
// (no form token matching its cookie) is refused: a cross-site form
// cannot sign a victim's browser in as the attacker.
func TestLoginCSRF(t *testing.T) {
	c := startDashboard(t)
	cl := browserClient(c)
	resp, err := cl.PostForm(c.URL+"/login", url.Values{"token": {c.ViewerToken}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || sessionCookie(resp) != nil {
		t.Errorf("sign-in without the login page's form token: %d, cookie %v; want 403 and none", resp.StatusCode, sessionCookie(resp))
	}
}

// TestBruteForce: failed sign-ins and failed bearer tokens from one
// source are slowed down: after a few, 429 with Retry-After, and while it
// lasts even the right token is refused from there.
func TestBruteForce(t *testing.T) {
	c := startDashboard(t)
	t.Run("sign-in", func(t *testing.T) {
		cl := browserClient(c)
		var limited *http.Response
		for i := 0; i < 40 && limited == nil; i++ {
			if resp := signIn(t, c, cl, "awt_guess"+strings.Repeat("x", i)); resp.StatusCode == http.StatusTooManyRequests {
				limited = resp
			}
		}
		if limited == nil || limited.Header.Get("Retry-After") == "" {
			t.Fatalf("40 wrong tokens at /login: never 429 with Retry-After (last %v)", limited)
		}
		if resp := signIn(t, c, cl, c.ViewerToken); resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("the right token while limited: %d, want 429", resp.StatusCode)
		}
	})
	t.Run("bearer", func(t *testing.T) {
		var code int
		var retry string
		for i := 0; i < 40 && code != http.StatusTooManyRequests; i++ {
			req, _ := http.NewRequest("GET", c.URL+api.PathSummary, nil)
			req.Header.Set("Authorization", "Bearer awt_guess"+strings.Repeat("y", i))
			resp, err := c.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			code, retry = resp.StatusCode, resp.Header.Get("Retry-After")
		}
		if code != http.StatusTooManyRequests || retry == "" {
			t.Fatalf("40 wrong bearer tokens: last answer %d (Retry-After %q), want 429", code, retry)
		}
		if code, _ := c.Do(t, "GET", api.PathSummary, c.AdminToken, nil); code != http.StatusTooManyRequests {
			t.Errorf("the right token while limited: %d, want 429", code)
		}
	})
}

// TestSessionExpires: a session ends on the collector after its idle
// time and after its absolute lifetime (short here; store tests cover
// the clock arithmetic), and an ended session sends the browser back to
// the login page.
func TestSessionExpires(t *testing.T) {
	for _, o := range []web.Options{
		{SessionIdle: time.Second, SessionMax: time.Hour},
		{SessionIdle: time.Hour, SessionMax: time.Second},
	} {
		c := startDashboard(t, o)
		ck := sessionCookie(signIn(t, c, browserClient(c), c.ViewerToken))
		if ck == nil || getWith(t, c, "/hosts", ck) != http.StatusOK || getWith(t, c, api.PathSummary, ck) != http.StatusOK {
			t.Fatalf("idle %s, max %s: a fresh session is refused", o.SessionIdle, o.SessionMax)
		}
		time.Sleep(1200 * time.Millisecond)
		if code := getWith(t, c, "/hosts", ck); code != http.StatusSeeOther {
			t.Errorf("idle %s, max %s: page after 1.2s: %d, want a redirect to the login page", o.SessionIdle, o.SessionMax, code)
		}
		if code := getWith(t, c, api.PathSummary, ck); code != http.StatusUnauthorized {
			t.Errorf("idle %s, max %s: API after 1.2s: %d, want 401", o.SessionIdle, o.SessionMax, code)
		}
	}
}
