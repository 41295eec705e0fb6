package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
)

// TestAPIError: a non-2xx answer is one *APIError. The collector's JSON
// error answer gives Code and Detail; an HTML page from something in
// front of it is described, never taken for the collector's word;
// Retry-After is read (bounded to an hour) and Transient tells a 5xx or
// 429 from an answer that will not change.
func TestAPIError(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		ctype      string
		body       string
		retryAfter string
		want       APIError
		transient  bool
		text       string
	}{
		{"collector refusal", 400, api.ContentTypeJSON, `{"error":"bad_request","detail":"no report id"}`, "",
			APIError{Status: 400, Code: "bad_request", Detail: "no report id", Collector: true}, false, "collector answered 400 bad_request: no report id"},
		{"collector busy", 503, api.ContentTypeJSON + "; charset=utf-8", `{"error":"unavailable"}`, "7",
			APIError{Status: 503, Code: "unavailable", Collector: true, RetryAfter: 7 * time.Second}, true, "collector answered 503 unavailable"},
		{"proxy page", 404, "text/html", "<html><body><h1>Not  Found</h1>\n<p>nginx</p></body></html>", "",
			APIError{Status: 404, Detail: `Not Found (text/html): "Not Found nginx"`}, false, "something in front of the collector"},
		{"JSON that is not the collector's", 502, api.ContentTypeJSON, `{"message":"bad gateway"}`, "99999",
			APIError{Status: 502, Detail: `Bad Gateway (application/json): "{\"message\":\"bad gateway\"}"`, RetryAfter: time.Hour}, true, "HTTP 502"},
		{"too many", 429, "", "", "soon",
			APIError{Status: 429, Detail: `Too Many Requests (no content type): ""`}, true, "HTTP 429"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.ctype != "" {
					w.Header().Set("Content-Type", tt.ctype)
				}
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, err := New(Config{URL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.Reach(context.Background(), api.ReachReport{NodeKey: "awn_x"})
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("%v: not an *APIError", err)
			}
			if *ae != tt.want {
				t.Errorf("got %+v\nwant %+v", *ae, tt.want)
			}
			if ae.Transient() != tt.transient {
				t.Errorf("Transient() = %v, want %v", ae.Transient(), tt.transient)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not say %q", err, tt.text)
			}
			if errors.Is(err, ErrCertificate) {
				t.Errorf("an HTTP answer taken for a certificate refusal: %v", err)
			}
		})
	}
}

// TestAnswerBounded: an answer past the bound is cut, not read whole.
func TestAnswerBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", api.ContentTypeJSON)
		w.Write([]byte(`{"status":"` + strings.Repeat("x", 2*maxAnswer) + `"}`))
	}))
	defer srv.Close()
	c, err := New(Config{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Report(context.Background(), api.ReportRequest{ReportID: "r1"}); !errors.Is(err, ErrBadAnswer) {
		t.Fatalf("an answer of 2 MiB: %v, want it cut at %d bytes (bad answer)", err, maxAnswer)
	}
}
