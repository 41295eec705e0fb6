package servertest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server"
	"github.com/anchorwatch/anchorwatch/server/db"
)

// Options tune StartCollector.
type Options struct {
	// DBURL is the database; default a SQLite file in t.TempDir(). Use
	// StartPostgres(t) for PostgreSQL.
	DBURL string
	// InsecureHTTP serves plain HTTP instead of TLS.
	InsecureHTTP bool
	// HTTP2 offers HTTP/2 over TLS, as the collector's own server does.
	HTTP2 bool
	// Config is passed to server.New; its Store is set by StartCollector.
	Config server.Config
}

// Collector is a running collector for a test, stopped after it.
type Collector struct {
	URL          string // https://127.0.0.1:PORT (or http:// with InsecureHTTP)
	EnrollSecret string // an active enroll secret named "default"
	AdminToken   string // an admin token named "admin"
	ViewerToken  string // a viewer token named "viewer"
	CertFile     string // the collector's self-signed certificate (PEM), "" with InsecureHTTP
	Fingerprint  string // its SHA-256 fingerprint, as agents pin it
	Store        *db.Store
	Server       *server.Server
	DataDir      string
	client       *http.Client
}

// StartCollector starts the real collector on 127.0.0.1 for t.
func StartCollector(t testing.TB, opts Options) *Collector {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	dbURL := opts.DBURL
	if dbURL == "" {
		dbURL = filepath.Join(dir, "collector.db")
	}
	st, err := db.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	c := &Collector{Store: st, DataDir: dir}
	if c.EnrollSecret, err = st.AddSecret(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	if c.AdminToken, err = st.AddToken(ctx, "admin", db.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if c.ViewerToken, err = st.AddToken(ctx, "viewer", db.RoleViewer); err != nil {
		t.Fatal(err)
	}
	cfg := opts.Config
	cfg.Store = st
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Server = srv
	hs := httptest.NewUnstartedServer(srv)
	if opts.InsecureHTTP {
		hs.Start()
		c.client = &http.Client{Timeout: 30 * time.Second}
	} else {
		certFile, keyFile, _, err := server.EnsureSelfSigned(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		tc, err := server.TLSConfig(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		hs.TLS = tc
		hs.EnableHTTP2 = opts.HTTP2
		hs.StartTLS()
		c.CertFile = certFile
		if c.Fingerprint, err = server.CertFingerprint(certFile); err != nil {
			t.Fatal(err)
		}
		pemData, _ := os.ReadFile(certFile)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pemData)
		c.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 64}}
	}
	c.URL = hs.URL
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
		st.Close()
	})
	return c
}

// Client returns an HTTP client that trusts the collector's certificate.
func (c *Collector) Client() *http.Client { return c.client }

// Do sends method path with a JSON body (nil for none) and bearer token
// (empty for none), and returns the status and body.
func (c *Collector) Do(t testing.TB, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// Enroll enrolls a host with the default secret and returns its node key
// and host id.
func (c *Collector) Enroll(t testing.TB, facts api.HostFacts) (string, int64) {
	t.Helper()
	code, body := c.Do(t, "POST", api.PathEnroll, "", api.EnrollRequest{EnrollSecret: c.EnrollSecret, Host: facts})
	if code != http.StatusOK {
		t.Fatalf("enroll: %d %s", code, body)
	}
	var er api.EnrollResponse
	if err := json.Unmarshal(body, &er); err != nil {
		t.Fatal(err)
	}
	return er.NodeKey, er.HostID
}

// Report sends a report and returns the decoded acknowledgement; a non-200
// answer fails t.
func (c *Collector) Report(t testing.TB, req *api.ReportRequest) api.ReportResponse {
	t.Helper()
	code, body := c.Do(t, "POST", api.PathReport, "", req)
	if code != http.StatusOK {
		t.Fatalf("report %s: %d %s", req.ReportID, code, body)
	}
	var rr api.ReportResponse
	if err := json.Unmarshal(body, &rr); err != nil {
		t.Fatal(fmt.Errorf("report answer %s: %w", body, err))
	}
	return rr
}
