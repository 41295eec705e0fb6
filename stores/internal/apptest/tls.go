package apptest

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

// HTTPS serves "anchorwatch-ok" over HTTPS on 127.0.0.1 with a leaf the
// CA issued, until the test ends, and returns its URL.
func HTTPS(t testing.TB, ca *testpki.CA) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "anchorwatch-ok\n")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // clients that reject the CA are the point
	srv.TLS = testpki.ServerConfig(ca.Leaf(t, "127.0.0.1"))
	srv.TLS.MinVersion = tls.VersionTLS12
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

// Root makes a test root that other users can traverse (t.TempDir makes
// 0700 directories), so that a test user's programs reach their home.
func Root(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{root, filepath.Dir(root)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// SystemBundle returns the host's system bundle: a certifi-style bundle
// holding public roots and not the test CA.
func SystemBundle(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatalf("the system bundle (Debian package ca-certificates): %v", err)
	}
	return data
}
