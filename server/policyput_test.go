package server_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server"
	"github.com/anchorwatch/anchorwatch/server/servertest"
)

// TestPolicyPutErrors: a policy upload is answered by what went wrong,
// decided from typed errors — a refused blob 400 with its reason, a serial
// not above the served one 409 with a fixed message, a database that
// cannot commit (a full disk) 503 unavailable with Retry-After, any other
// database failure 500 internal — and the 5xx bodies say nothing of the
// collector's internals (those are in its log).
func TestPolicyPutErrors(t *testing.T) {
	dir := mountTmpfs(t, 24<<20)
	logs := &servertest.Buffer{}
	c := servertest.StartCollector(t, servertest.Options{DBURL: filepath.Join(dir, "collector.db"),
		Config: server.Config{Logger: slog.New(slog.NewTextHandler(logs, nil)), ErrorLogInterval: time.Second}})
	put := func(blob []byte) (int, api.ErrorResponse, string) {
		t.Helper()
		code, body := c.Do(t, "PUT", api.PathPolicy, c.AdminToken, blob)
		var e api.ErrorResponse
		if code != http.StatusOK {
			e = decode[api.ErrorResponse](t, body)
		}
		return code, e, string(body)
	}
	if code, _, body := put(signPolicy(t, 7)); code != http.StatusOK {
		t.Fatalf("upload: %d %s", code, body)
	}
	code, e, body := put(signPolicy(t, 7))
	want := "policy serial 7 is not greater than the served serial: agents would reject it; bump the serial and sign again"
	if code != http.StatusConflict || e.Error != api.ErrBadRequest || e.Detail != want {
		t.Errorf("same serial again: %d %s, want 409 %q", code, body, want)
	}
	code, e, body = put([]byte("\x30\x03\x02\x01"))
	if code != http.StatusBadRequest || e.Error != api.ErrBadRequest || !strings.Contains(e.Detail, "not a PKCS#7") {
		t.Errorf("garbage: %d %s, want 400 naming the blob's fault", code, body)
	}

	// A full disk: the insert cannot commit. A large blob (a padded
	// comment) needs new pages, so the write-ahead log must grow.
	filler := fill(t, dir)
	pad := strings.Repeat("x", 512<<10)
	unavailable := false
	for serial := int64(8); serial < 48 && !unavailable; serial++ {
		code, e, body := put(signPolicyDoc(t, fmt.Sprintf(`{"serial": %d, "anchors": [], "//pad": %q}`, serial, pad)))
		switch {
		case code == http.StatusOK:
			continue
		case code != http.StatusServiceUnavailable || e.Error != api.ErrUnavailable:
			t.Fatalf("upload on a full disk: %d %s, want 503 unavailable", code, body)
		}
		unavailable = true
		if strings.Contains(strings.ToLower(e.Detail), "sqlite") || strings.Contains(e.Detail, "full") {
			t.Errorf("503 detail tells internals: %q", e.Detail)
		}
	}
	if !unavailable {
		t.Fatalf("40 large uploads on a full disk all stored (%s)", df(dir))
	}
	if !strings.Contains(logs.String(), "store policy failed: database unavailable") {
		t.Errorf("the outage is not logged as the policy write's:\n%s", logs.String())
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}

	// Any other database failure: 500, the detail only in the log.
	if _, err := c.Store.DB().Exec("ALTER TABLE policies RENAME TO policies_gone"); err != nil {
		t.Fatal(err)
	}
	code, e, body = put(signPolicy(t, 100))
	if code != http.StatusInternalServerError || e.Error != api.ErrInternal || strings.Contains(body, "policies") || strings.Contains(body, "table") {
		t.Errorf("broken database: %d %s, want 500 internal saying nothing internal", code, body)
	}
	if !strings.Contains(logs.String(), "no such table") {
		t.Errorf("the failure's detail is not in the log:\n%s", logs.String())
	}
}

// TestCredentialAdminErrors: adding a credential whose name is taken is
// 409, revoking an unknown one 404 (both about the request), and a
// database failure while doing either is 500 internal with nothing of the
// database in the body (it was 409/404 with the raw error).
func TestCredentialAdminErrors(t *testing.T) {
	logs := &servertest.Buffer{}
	c := servertest.StartCollector(t, servertest.Options{Config: server.Config{Logger: slog.New(slog.NewTextHandler(logs, nil))}})
	do := func(method, path string, body any) (int, api.ErrorResponse, string) {
		t.Helper()
		code, b := c.Do(t, method, path, c.AdminToken, body)
		var e api.ErrorResponse
		if code >= 400 {
			e = decode[api.ErrorResponse](t, b)
		}
		return code, e, string(b)
	}
	if code, e, body := do("POST", api.PathSecrets, map[string]string{"name": "default"}); code != http.StatusConflict || !strings.Contains(e.Detail, "already exists") {
		t.Errorf("secret name taken: %d %s", code, body)
	}
	if code, e, body := do("POST", api.PathTokens, map[string]string{"name": "viewer", "role": "viewer"}); code != http.StatusConflict || !strings.Contains(e.Detail, "already exists") {
		t.Errorf("token name taken: %d %s", code, body)
	}
	if code, _, body := do("DELETE", api.PathSecrets+"/nosuch", nil); code != http.StatusNotFound {
		t.Errorf("revoke an unknown secret: %d %s", code, body)
	}
	if code, _, body := do("DELETE", api.PathTokens+"/nosuch", nil); code != http.StatusNotFound {
		t.Errorf("revoke an unknown token: %d %s", code, body)
	}
	for _, stmt := range []string{"ALTER TABLE enroll_secrets RENAME TO enroll_secrets_gone", "ALTER TABLE dashboard_sessions RENAME TO dashboard_sessions_gone"} {
		if _, err := c.Store.DB().Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{"POST", api.PathSecrets, map[string]string{"name": "fresh"}},
		{"DELETE", api.PathSecrets + "/default", nil},
		{"DELETE", api.PathTokens + "/viewer", nil},
	} {
		code, e, body := do(req.method, req.path, req.body)
		if code != http.StatusInternalServerError || e.Error != api.ErrInternal || strings.Contains(body, "enroll_secrets") ||
			strings.Contains(body, "dashboard_sessions") || strings.Contains(body, "table") {
			t.Errorf("%s %s on a broken database: %d %s, want 500 internal saying nothing internal", req.method, req.path, code, body)
		}
	}
	if !strings.Contains(logs.String(), "no such table") {
		t.Errorf("the failures' detail is not in the log:\n%s", logs.String())
	}
}
