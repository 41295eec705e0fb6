package web_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server"
	"github.com/anchorwatch/anchorwatch/server/db"
)

// TestSessionHostActions: a dashboard session may retire (or delete,
// merge, revoke) a host only as an admin, from the dashboard's own origin,
// with the session's anti-forgery header; everything else about a
// session stays read-only.
func TestSessionHostActions(t *testing.T) {
	c := startDashboard(t)
	_, hostID := c.Enroll(t, api.HostFacts{Hostname: "pc-1", MachineID: "m-1", OS: "linux"})
	session := func(tok string) (*http.Cookie, string) {
		t.Helper()
		ck := sessionCookie(signIn(t, c, browserClient(c), tok))
		if ck == nil {
			t.Fatal("no session")
		}
		req, _ := http.NewRequest("GET", c.URL+api.PathWhoAmI, nil)
		req.AddCookie(ck)
		resp, err := c.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var who api.WhoAmI
		if err := json.NewDecoder(resp.Body).Decode(&who); err != nil || who.CSRF == "" {
			t.Fatalf("whoami with a session: %+v %v (want its anti-forgery value)", who, err)
		}
		return ck, who.CSRF
	}
	admin, adminCSRF := session(c.AdminToken)
	viewer, viewerCSRF := session(c.ViewerToken)
	try := func(method, path string, ck *http.Cookie, csrf, site, origin string) int {
		t.Helper()
		req, _ := http.NewRequest(method, c.URL+path, nil)
		if ck != nil {
			req.AddCookie(ck)
		}
		if csrf != "" {
			req.Header.Set(server.CSRFHeader, csrf)
		}
		if site != "" {
			req.Header.Set("Sec-Fetch-Site", site)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := c.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	retire := fmt.Sprintf("%s/%d/retire", api.PathHosts, hostID)
	for _, c := range []struct {
		name              string
		ck                *http.Cookie
		csrf, site, orign string
		want              int
	}{
		{"no anti-forgery header", admin, "", "same-origin", "", http.StatusUnauthorized},
		{"another session's header", admin, viewerCSRF, "same-origin", "", http.StatusUnauthorized},
		{"cross-site", admin, adminCSRF, "cross-site", "", http.StatusUnauthorized},
		{"no Sec-Fetch-Site, foreign Origin", admin, adminCSRF, "", "https://evil.example", http.StatusUnauthorized},
		{"neither Sec-Fetch-Site nor Origin", admin, adminCSRF, "", "", http.StatusUnauthorized},
		{"a viewer's session", viewer, viewerCSRF, "same-origin", "", http.StatusForbidden},
	} {
		if got := try("POST", retire, c.ck, c.csrf, c.site, c.orign); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if h, _ := c.Store.Host(t.Context(), hostID, 1); !h.RetiredAt.IsZero() {
		t.Fatal("a refused request retired the host")
	}
	// A session never writes elsewhere, header or not.
	if got := try("POST", api.PathTokens, admin, adminCSRF, "same-origin", ""); got != http.StatusUnauthorized {
		t.Errorf("token creation with an admin session: %d, want 401", got)
	}
	if got := try("POST", retire, admin, adminCSRF, "same-origin", ""); got != http.StatusNoContent {
		t.Fatalf("retire with an admin session: %d", got)
	}
	if got := try("POST", retire, admin, adminCSRF, "", c.URL); got != http.StatusConflict {
		t.Errorf("retire again (same Origin, no Sec-Fetch-Site): %d, want 409", got)
	}
	sum, err := c.Store.Summary(t.Context(), time.Now(), 0)
	if err != nil || sum.Hosts != 0 || sum.Retired != 1 {
		t.Errorf("after retiring: %+v %v", sum, err)
	}
	del := fmt.Sprintf("%s/%d", api.PathHosts, hostID)
	if got := try("DELETE", del, admin, adminCSRF, "same-origin", ""); got != http.StatusNoContent {
		t.Fatalf("delete with an admin session: %d", got)
	}
	if _, err := c.Store.Host(t.Context(), hostID, 1); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("deleted host: %v", err)
	}
}
