package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

// TestClientFingerprintPin checks the fingerprint pin against servers
// presenting various chains: the pin must hold the connection's leaf (or
// a CA the leaf is issued under for the host dialed), not merely appear
// somewhere in what the server sent — the collector's certificate is
// public, so a man in the middle can append it to a chain of his own.
func TestClientFingerprintPin(t *testing.T) {
	collectorCA := testpki.NewCA(t, "collector CA")
	collectorLeaf := collectorCA.Leaf(t, "127.0.0.1")
	attackerCA := testpki.NewCA(t, "attacker CA")
	attackerLeaf := attackerCA.Leaf(t, "127.0.0.1")
	wrongHost := collectorCA.Leaf(t, "other.example")

	chain := func(leaf tls.Certificate, extra ...*x509.Certificate) tls.Certificate {
		for _, c := range extra {
			leaf.Certificate = append(leaf.Certificate, c.Raw)
		}
		return leaf
	}
	tests := []struct {
		name    string
		served  tls.Certificate
		pin     string
		ca      *x509.Certificate // collector_ca_file as well, when set
		wantErr string            // "" for success
	}{
		{"leaf pinned", collectorLeaf, stores.SHA256(collectorLeaf.Leaf), nil, ""},
		{"issuing CA pinned", chain(collectorLeaf, collectorCA.Cert), stores.SHA256(collectorCA.Cert), nil, ""},
		{"other certificate", attackerLeaf, stores.SHA256(collectorLeaf.Leaf), nil, "does not match the pinned fingerprint"},
		// The attack: the attacker's leaf first, the real (public)
		// collector certificate appended.
		{"pinned leaf appended to a foreign leaf", chain(attackerLeaf, collectorLeaf.Leaf), stores.SHA256(collectorLeaf.Leaf), nil, "pinned"},
		{"pinned CA appended to a foreign leaf", chain(attackerLeaf, collectorCA.Cert), stores.SHA256(collectorCA.Cert), nil, "pinned"},
		{"leaf pinned, CA file also given and matching", chain(collectorLeaf, collectorCA.Cert), stores.SHA256(collectorLeaf.Leaf), collectorCA.Cert, ""},
		{"leaf pinned, CA file also given, not matching", collectorLeaf, stores.SHA256(collectorLeaf.Leaf), attackerCA.Cert, "unknown authority"},
		{"pinned CA, leaf for another host", chain(wrongHost, collectorCA.Cert), stores.SHA256(collectorCA.Cert), nil, "pinned"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"status":"ok"}`))
			}))
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{tt.served}}
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.StartTLS()
			defer srv.Close()

			cfg := Config{URL: srv.URL, Fingerprint: tt.pin}
			if tt.ca != nil {
				cfg.CAFile = testpki.WritePEM(t, filepath.Join(t.TempDir(), "ca.pem"), tt.ca)
			}
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.Report(context.Background(), api.ReportRequest{NodeKey: "awn_test", ReportID: "r1", Kind: api.ReportHeartbeat})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("want success, got %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("the client accepted a server it must reject (%s)", tt.name)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q does not say %q", err, tt.wantErr)
			}
			if tt.wantErr != "" && !errors.Is(err, ErrCertificate) {
				t.Fatalf("error %v does not match ErrCertificate", err)
			}
			if pin := strings.Contains(tt.wantErr, "pinned"); tt.wantErr != "" && errors.Is(err, ErrPinMismatch) != pin {
				t.Fatalf("error %v: errors.Is(ErrPinMismatch) = %v, want %v", err, !pin, pin)
			}
			var apiErr *APIError
			if errors.As(err, &apiErr) {
				t.Fatalf("the request reached the server: %v", err)
			}
		})
	}
}
