package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// APIError is a non-2xx answer to a request to the collector. Collector
// is true when the answer is the collector's own (its JSON ErrorResponse;
// Code and Detail come from it); otherwise something in front of the
// collector answered (a load balancer, reverse proxy or firewall), Code is
// empty and Detail shows the start of what it sent.
type APIError struct {
	Status    int
	Code      string // api.Err* code, from the collector's answer
	Detail    string
	Collector bool
	// RetryAfter is the wait the answer asked for (Retry-After), 0 if none.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	if !e.Collector {
		return fmt.Sprintf("HTTP %d from something in front of the collector (not its JSON error answer): %s", e.Status, e.Detail)
	}
	s := fmt.Sprintf("collector answered %d %s", e.Status, e.Code)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Said reports whether the collector itself answered with the error code.
func (e *APIError) Said(code string) bool { return e.Collector && e.Code == code }

// RefusedError is the collector's own refusal of a report as invalid in
// itself (api.Refused): sending it again can never succeed, so the report
// is dropped. Every other error, an HTML 403 or 404 from a proxy
// included, leaves the report spooled for another try.
type RefusedError struct{ *APIError }

func (e *RefusedError) Unwrap() error { return e.APIError }

// ErrNoPolicy is returned by Policy when the collector has none published.
var ErrNoPolicy = errors.New("the collector serves no policy yet")

// NodeKeyHeader carries the node key on GET /api/v1/policy, as the
// collector documents it (server.NodeKeyHeader; docs/collector.md). Report
// and enroll bodies carry the node key themselves: it is sent in no other
// header, so a collector that also accepts "Authorization: Bearer" for
// dashboard tokens never mistakes it for one.
const NodeKeyHeader = "X-Anchorwatch-Node-Key"

// ErrNotModified is returned by Policy when the collector still serves
// the blob of the ETag given (304).
var ErrNotModified = errors.New("the collector's policy has not changed")

// ErrWaitUnsupported is returned by WaitPolicy when the collector has no
// policy wait endpoint (an older collector: 404): the agent fetches the
// policy at its heartbeat only.
var ErrWaitUnsupported = errors.New("the collector has no policy wait endpoint (" + api.PathPolicyWait + ")")

// Client talks to the collector API.
type Client struct {
	base string
	http *http.Client
	// wait is http with a deadline past a policy wait's hold; both share
	// one transport, so over HTTP/2 the wait is a stream on the TLS
	// connection the reports use.
	wait *http.Client
	// skew is the collector's clock minus ours (nanoseconds), from the
	// Date header of its last answer: enroll proofs carry its time.
	skew atomic.Int64
}

// NewClient builds a client for the config's collector URL, with TLS
// pinned to the collector CA file or certificate fingerprint.
func NewClient(c *Config) (*Client, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CollectorCAFile != "" {
		pemData, err := fsroot.ReadFile(c.CollectorCAFile, fsroot.Want{Max: maxCAFile, Follow: true})
		if err != nil {
			return nil, fmt.Errorf("collector CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("collector CA %s: no PEM certificate in it", c.CollectorCAFile)
		}
		tlsCfg.RootCAs = pool
	}
	if fp := c.CollectorFingerprint; fp != "" {
		// Pin by fingerprint: the certificate with this SHA-256 must be the
		// leaf, or a CA the leaf is issued under for the host dialed. Its
		// mere presence in what the server sends proves nothing: the
		// collector's certificate is public, anyone can append it.
		roots := tlsCfg.RootCAs // collector_ca_file too: both must hold
		var host string         // TLS sends no server name for an IP address
		if u, err := url.Parse(c.CollectorURL); err == nil {
			host = u.Hostname()
		}
		tlsCfg.InsecureSkipVerify = true
		tlsCfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if cs.ServerName == "" {
				cs.ServerName = host
			}
			return verifyPinned(cs, fp, roots)
		}
	}
	// No ResponseHeaderTimeout: a policy wait gets its answer only after
	// up to a minute. Every request is bounded by its client's Timeout.
	tr := &http.Transport{
		TLSClientConfig:     tlsCfg,
		Proxy:               nil, // the collector is reached directly; an interception proxy would break pinning
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        2,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	return &Client{
		base: strings.TrimRight(c.CollectorURL, "/"),
		http: &http.Client{Transport: tr, Timeout: 60 * time.Second},
		wait: &http.Client{Transport: tr, Timeout: waitDeadline},
	}, nil
}

// waitDeadline bounds a policy wait: the collector's longest hold (7/6
// of api.PolicyWaitMax), its wake-up spread and a margin.
const waitDeadline = api.PolicyWaitMax*7/6 + 45*time.Second

// WaitPolicy holds a request open at the collector until it serves a
// policy serial above held, and returns that serial; 0 (and no error)
// when the collector's hold passed with none. A collector without the
// endpoint answers ErrWaitUnsupported; one with too many waiters an
// *APIError with RetryAfter.
func (c *Client) WaitPolicy(ctx context.Context, nodeKey string, held int64) (int64, error) {
	u := c.base + api.PathPolicyWait + "?serial=" + strconv.FormatInt(held, 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set(NodeKeyHeader, nodeKey)
	resp, err := c.wait.Do(req)
	if err != nil {
		return 0, fmt.Errorf("wait for a policy: %w", err)
	}
	defer resp.Body.Close()
	c.noteDate(resp)
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, fmt.Errorf("wait for a policy: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return 0, nil
	case resp.StatusCode == http.StatusNotFound:
		return 0, ErrWaitUnsupported
	case resp.StatusCode/100 != 2:
		return 0, fmt.Errorf("wait for a policy: %w", apiError(resp, body))
	}
	var out api.PolicyWaitResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return 0, fmt.Errorf("wait for a policy: bad answer: %w", err)
	}
	return out.PolicySerial, nil
}

// verifyPinned checks the server certificate of cs against the SHA-256
// fingerprint fp (lowercase hex): the leaf itself, or a certificate of the
// chain that the leaf verifies up to for cs.ServerName. With roots set
// (collector_ca_file given as well) the chain must also verify against them.
func verifyPinned(cs tls.ConnectionState, fp string, roots *x509.CertPool) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return errors.New("the collector sent no certificate")
	}
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Intermediates: inter, DNSName: cs.ServerName, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if roots != nil {
		o := opts
		o.Roots = roots
		if _, err := leaf.Verify(o); err != nil {
			return fmt.Errorf("collector certificate: %w", err)
		}
	}
	sum := sha256.Sum256(leaf.Raw)
	if hex.EncodeToString(sum[:]) == fp {
		return nil
	}
	for _, c := range certs[1:] {
		sum := sha256.Sum256(c.Raw)
		if hex.EncodeToString(sum[:]) != fp {
			continue
		}
		pinned := x509.NewCertPool()
		pinned.AddCert(c)
		opts.Roots = pinned
		if _, err := leaf.Verify(opts); err != nil {
			return fmt.Errorf("collector certificate is not issued under the pinned certificate %s… for %s: %w", fp[:16], cs.ServerName, err)
		}
		return nil
	}
	return fmt.Errorf("collector certificate does not match the pinned fingerprint %s…", fp[:16])
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// EnrollRequest is what Enroll sends.
type EnrollRequest struct {
	Secret string
	Facts  api.HostFacts
	// HostKey, when set, signs the enrollment (api.EnrollProof).
	HostKey ed25519.PrivateKey
	// NodeKey is the node key held, if any.
	NodeKey string
}

// Enroll exchanges the enroll secret and host facts (and the proof of the
// host key) for a node key.
func (c *Client) Enroll(ctx context.Context, r EnrollRequest) (api.EnrollResponse, error) {
	req := api.EnrollRequest{EnrollSecret: r.Secret, Host: r.Facts, NodeKey: r.NodeKey}
	if r.HostKey != nil {
		req.HostKey, req.Proof = enrollProof(r.HostKey, r.Facts.MachineID, c.now())
	}
	var out api.EnrollResponse
	err := c.do(ctx, http.MethodPost, api.PathEnroll, req, &out)
	if err == nil && out.NodeKey == "" {
		err = errors.New("enroll: the collector returned no node key")
	}
	return out, err
}

// now is the collector's time as last seen (our clock plus its skew).
func (c *Client) now() time.Time { return time.Now().Add(time.Duration(c.skew.Load())) }

// noteDate records the collector's clock from an answer's Date header.
func (c *Client) noteDate(resp *http.Response) {
	if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		c.skew.Store(int64(time.Until(t)))
	}
}

// Report sends one report; the node key travels in its body.
func (c *Client) Report(ctx context.Context, r api.ReportRequest) (api.ReportResponse, error) {
	var out api.ReportResponse
	err := c.do(ctx, http.MethodPost, api.PathReport, r, &out)
	var ae *APIError
	if errors.As(err, &ae) && ae.Collector && api.Refused(ae.Status, ae.Code) {
		err = fmt.Errorf("report %s: %w", r.ReportID, &RefusedError{ae})
	}
	return out, err
}

// Policy fetches the signed policy blob; it is verified by the caller.
// With etag set (the ETag of a blob fetched before) an unchanged policy
// answers ErrNotModified without a body. It returns the blob's ETag.
func (c *Client) Policy(ctx context.Context, nodeKey, etag string) (blob []byte, newETag string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+api.PathPolicy, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set(NodeKeyHeader, nodeKey)
	req.Header.Set("Accept", "application/pkcs7-mime")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("fetch policy: %w", err)
	}
	defer resp.Body.Close()
	c.noteDate(resp)
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(policyLimit)+1))
	if err != nil {
		return nil, "", fmt.Errorf("fetch policy: %w", err)
	}
	if resp.StatusCode == http.StatusNotModified {
		return nil, etag, ErrNotModified
	}
	if resp.StatusCode/100 != 2 {
		ae := apiError(resp, body)
		if ae.Said(api.ErrNotFound) {
			return nil, "", ErrNoPolicy
		}
		return nil, "", fmt.Errorf("fetch policy: %w", ae)
	}
	switch {
	case len(body) > policyLimit:
		return nil, "", fmt.Errorf("fetch policy: over %d bytes", policyLimit)
	}
	return body, resp.Header.Get("ETag"), nil
}

const policyLimit = 2 << 20

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	c.noteDate(resp)
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %w", method, path, apiError(resp, data))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: bad answer: %w", method, path, err)
	}
	return nil
}

// apiError makes the APIError of a non-2xx answer. Only a JSON body that
// decodes as the collector's ErrorResponse is taken for the collector's
// word; anything else (an HTML error page) is described, not parsed.
func apiError(resp *http.Response, body []byte) *APIError {
	e := &APIError{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var er api.ErrorResponse
	if mt == api.ContentTypeJSON && json.Unmarshal(body, &er) == nil && er.Error != "" {
		e.Collector, e.Code, e.Detail = true, er.Error, er.Detail
		return e
	}
	if mt == "" {
		mt = "no content type"
	}
	e.Detail = fmt.Sprintf("%s (%s): %q", http.StatusText(resp.StatusCode), mt, snippet(body))
	return e
}

// snippet is the text at the start of a body, markup and spacing folded,
// for an error message.
func snippet(body []byte) string {
	var b strings.Builder
	space, inTag := false, false
	for _, r := range string(body[:min(len(body), 2048)]) {
		switch {
		case r == '<':
			inTag, space = true, b.Len() > 0
			continue
		case r == '>':
			inTag = false
			continue
		case inTag:
			continue
		case unicode.IsSpace(r) || !unicode.IsPrint(r):
			space = b.Len() > 0
			continue
		case space:
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
		if b.Len() >= 100 {
			break
		}
	}
	return b.String()
}

// retryAfter reads a Retry-After header in seconds (bounded to an hour).
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(min(n, 3600)) * time.Second
}
