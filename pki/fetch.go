package pki

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultTimeout bounds one fetch (connect, request and body).
const DefaultTimeout = 10 * time.Second

// MaxOCSPAnswer bounds an OCSP answer; real ones are a few KiB.
const MaxOCSPAnswer = 64 << 10

// MaxIssuerCert bounds a certificate fetched from AIA caIssuers.
const MaxIssuerCert = 64 << 10

// Typed fetch errors; decide with errors.Is / errors.As.
var (
	// ErrNotHTTP: the URL is not plain http (https, ldap, file…).
	ErrNotHTTP = errors.New("not an http:// URL")
	// ErrTooLarge: the answer is over the limit.
	ErrTooLarge = errors.New("answer over the size limit")
)

// HTTPStatusError is a non-200 answer.
type HTTPStatusError struct{ Status int }

func (e *HTTPStatusError) Error() string {
	return fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
}

// Fetcher fetches CRLs, OCSP answers and issuer certificates over plain
// http, each bounded by Timeout and a size limit. The zero value is ready
// (a default client that honours HTTP_PROXY/NO_PROXY, as clients do).
type Fetcher struct {
	// Client makes the requests; nil means a client built by NewClient
	// on first use (and kept).
	Client *http.Client
	// Timeout bounds each fetch; 0 means DefaultTimeout.
	Timeout time.Duration
	// UserAgent is sent with each request.
	UserAgent string

	once sync.Once
	own  *http.Client
}

// NewClient returns the client a zero Fetcher uses: proxy from the
// environment, no keep-alive pool beyond a few connections, redirects
// followed at most 3 times and only to http.
func NewClient() *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: DefaultTimeout}).DialContext,
		MaxIdleConns:          4,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: DefaultTimeout,
		DisableCompression:    true,
	}
	return &http.Client{Transport: tr, CheckRedirect: checkRedirect}
}

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return errors.New("more than 3 redirects")
	}
	if req.URL.Scheme != "http" {
		return fmt.Errorf("redirect to %s: %w", req.URL.Redacted(), ErrNotHTTP)
	}
	return nil
}

func (f *Fetcher) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	f.once.Do(func() { f.own = NewClient() })
	return f.own
}

func (f *Fetcher) timeout() time.Duration {
	if f.Timeout > 0 {
		return f.Timeout
	}
	return DefaultTimeout
}

// checkURL accepts plain http URLs only.
func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("%s: %w", u.Redacted(), ErrNotHTTP)
	}
	return u, nil
}

// Get fetches an http URL and returns its body, at most limit bytes.
func (f *Fetcher) Get(ctx context.Context, rawURL string, limit int64) ([]byte, error) {
	u, err := checkURL(rawURL)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	return f.do(ctx, req, limit)
}

// OCSP sends a DER OCSP request to the responder at rawURL and returns
// the DER answer. Short requests go as GET (RFC 5019: what browsers send
// and caches serve), longer ones as POST.
func (f *Fetcher) OCSP(ctx context.Context, rawURL string, ocspReq []byte) ([]byte, error) {
	u, err := checkURL(rawURL)
	if err != nil {
		return nil, err
	}
	enc := base64.StdEncoding.EncodeToString(ocspReq)
	var req *http.Request
	if len(enc) <= 255 {
		get := *u
		get.Path = strings.TrimSuffix(u.Path, "/") + "/" + enc
		get.RawPath = strings.TrimSuffix(u.EscapedPath(), "/") + "/" + url.PathEscape(enc)
		req, err = http.NewRequest(http.MethodGet, get.String(), nil)
	} else {
		req, err = http.NewRequest(http.MethodPost, u.String(), bytes.NewReader(ocspReq))
		if err == nil {
			req.Header.Set("Content-Type", "application/ocsp-request")
		}
	}
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/ocsp-response")
	return f.do(ctx, req, MaxOCSPAnswer)
}

func (f *Fetcher) do(ctx context.Context, req *http.Request, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout())
	defer cancel()
	req = req.WithContext(ctx)
	if f.UserAgent != "" {
		req.Header.Set("User-Agent", f.UserAgent)
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, &HTTPStatusError{Status: resp.StatusCode}
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes announced, limit %d", ErrTooLarge, resp.ContentLength, limit)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: limit %d bytes", ErrTooLarge, limit)
	}
	return data, nil
}

// Describe turns a fetch error into a short reason for a report:
// "timeout", "connection refused", "no such host", "HTTP 404 Not Found",
// or the error itself.
func Describe(err error) string {
	var he *HTTPStatusError
	var dns *net.DNSError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &he):
		return he.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host"
	case errors.As(err, &dns):
		return "DNS: " + dns.Err
	case errors.Is(err, ErrNotHTTP):
		return "not fetched: not an http:// URL"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return err.Error()
}
