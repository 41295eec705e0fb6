package client

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/internal/testproxy"
	"github.com/anchorwatch/anchorwatch/stores"
)

// collectorServer is a TLS server presenting cert that counts the
// requests reaching it.
func collectorServer(t *testing.T, cert tls.Certificate, hits *atomic.Int64) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", api.ContentTypeJSON)
		w.Write([]byte(`{"status":"ok"}`))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestPinThroughProxy: the CLI reaches the collector through the
// environment's proxy. The proxy gets CONNECT only, TLS runs end to end,
// and the pin is checked on the collector's chain: through an honest
// proxy the pinned collector answers; an intercepting proxy presenting a
// certificate of its own (even with the real, public collector
// certificate appended) fails with ErrPinMismatch before any request is
// sent, and a CA file pin fails with ErrCertificate.
func TestPinThroughProxy(t *testing.T) {
	collectorCA := testpki.NewCA(t, "collector CA")
	collectorLeaf := collectorCA.Leaf(t, "127.0.0.1")
	attackerCA := testpki.NewCA(t, "attacker CA")
	attackerLeaf := attackerCA.Leaf(t, "127.0.0.1")
	withCollector := attackerLeaf
	withCollector.Certificate = append(append([][]byte{}, attackerLeaf.Certificate...), collectorLeaf.Leaf.Raw, collectorCA.Cert.Raw)
	caFile := testpki.WritePEM(t, filepath.Join(t.TempDir(), "ca.pem"), collectorCA.Cert)

	served := collectorLeaf // with its CA, as a CA pin needs
	served.Certificate = append(append([][]byte{}, collectorLeaf.Certificate...), collectorCA.Cert.Raw)
	var hits atomic.Int64
	srv := collectorServer(t, served, &hits)
	leafPin := stores.SHA256(collectorLeaf.Leaf)
	caPin := stores.SHA256(collectorCA.Cert)

	tests := []struct {
		name    string
		mitm    *tls.Certificate
		cfg     Config
		wantErr error // nil for success
	}{
		{"leaf pin, honest proxy", nil, Config{Fingerprint: leafPin}, nil},
		{"CA pin, honest proxy", nil, Config{Fingerprint: caPin}, nil},
		{"CA file, honest proxy", nil, Config{CAFile: caFile}, nil},
		{"leaf pin, intercepting proxy", &attackerLeaf, Config{Fingerprint: leafPin}, ErrPinMismatch},
		{"CA pin, intercepting proxy", &attackerLeaf, Config{Fingerprint: caPin}, ErrPinMismatch},
		{"leaf pin, intercepting proxy appending the collector's chain", &withCollector, Config{Fingerprint: leafPin}, ErrPinMismatch},
		{"CA pin, intercepting proxy appending the collector's chain", &withCollector, Config{Fingerprint: caPin}, ErrPinMismatch},
		{"CA file, intercepting proxy", &attackerLeaf, Config{CAFile: caFile}, ErrCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testproxy.Start(t, tt.mitm)
			before := hits.Load()
			cfg := tt.cfg
			cfg.URL, cfg.Proxy = srv.URL, http.ProxyURL(p.URL)
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.Report(context.Background(), api.ReportRequest{NodeKey: "awn_test", ReportID: "r1", Kind: api.ReportHeartbeat})
			if p.Connects.Load() == 0 || p.Other.Load() != 0 {
				t.Fatalf("the proxy saw %d CONNECT and %d other requests, want CONNECT only", p.Connects.Load(), p.Other.Load())
			}
			if tt.wantErr == nil {
				if err != nil || hits.Load() != before+1 {
					t.Fatalf("through an honest proxy: %v (%d requests reached the collector)", err, hits.Load()-before)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrCertificate) {
				t.Fatalf("through an intercepting proxy: %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == ErrCertificate && errors.Is(err, ErrPinMismatch) {
				t.Fatalf("a CA file failure taken for a pin mismatch: %v", err)
			}
			var ae *APIError
			if errors.As(err, &ae) || hits.Load() != before {
				t.Fatalf("the request reached a server: %v", err)
			}
		})
	}
}

// TestPlainHTTPNeverProxied: a plain-http collector URL (a collector on
// loopback) is reached directly even with a proxy configured: a proxy
// would see the request, and its token, in clear.
func TestPlainHTTPNeverProxied(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", api.ContentTypeJSON)
		w.Write([]byte(`{"duplicate":false}`))
	}))
	defer srv.Close()
	p := testproxy.Start(t, nil)
	c, err := New(Config{URL: srv.URL, Proxy: http.ProxyURL(p.URL)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.PostObservations(context.Background(), "aw_secret", api.ObservationBatch{BatchID: "b1"}); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 1 || p.Connects.Load()+p.Other.Load() != 0 {
		t.Fatalf("collector saw %d requests, proxy %d: want the collector reached directly", hits.Load(), p.Connects.Load()+p.Other.Load())
	}
}

// TestPinError: the typed error of a pin mismatch says which leaf was
// presented against which pin, and a malformed pin is refused by New.
func TestPinError(t *testing.T) {
	ca := testpki.NewCA(t, "collector CA")
	leaf := ca.Leaf(t, "127.0.0.1")
	other := testpki.NewCA(t, "other CA").Leaf(t, "127.0.0.1")
	var hits atomic.Int64
	srv := collectorServer(t, other, &hits)
	c, err := New(Config{URL: srv.URL, Fingerprint: "SHA256:" + colonHex(stores.SHA256(leaf.Leaf))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Report(context.Background(), api.ReportRequest{ReportID: "r1", Kind: api.ReportHeartbeat})
	var pe *PinError
	if !errors.As(err, &pe) || pe.Pin != stores.SHA256(leaf.Leaf) || pe.Leaf != stores.SHA256(other.Leaf) {
		t.Fatalf("wrong leaf: %v, want a PinError naming pin and leaf", err)
	}
	for _, bad := range []string{"zz", "abcd", stores.SHA256(leaf.Leaf) + "00"} {
		if _, err := New(Config{URL: srv.URL, Fingerprint: bad}); err == nil {
			t.Errorf("fingerprint %q accepted", bad)
		}
	}
}

// colonHex writes h as `collector serve` prints a fingerprint: upper
// case, colon separated.
func colonHex(h string) string {
	var parts []string
	for i := 0; i+2 <= len(h); i += 2 {
		parts = append(parts, strings.ToUpper(h[i:i+2]))
	}
	return strings.Join(parts, ":")
}
