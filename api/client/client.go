package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// Config says which collector to reach and how to trust it.
type Config struct {
	// URL is the collector's base URL, e.g. https://collector.example:8443.
	URL string
	// CAFile is a PEM file of the CA(s) the collector's chain must verify
	// against (read with a bound, symlinks followed: an admin's path).
	CAFile string
	// Fingerprint pins a certificate of the collector's chain by its
	// SHA-256 (hex; colons, spaces and a "sha256:" prefix allowed): the
	// leaf, or a CA the leaf is issued under for the host of URL. With
	// both CAFile and Fingerprint, both must hold; with neither, the
	// system roots verify the collector.
	Fingerprint string
	// Proxy picks the proxy of an https request (http.ProxyFromEnvironment
	// for the CLI); nil reaches the collector directly (the agent). A
	// plain-http URL is never proxied: a proxy only gets CONNECT.
	Proxy func(*http.Request) (*url.URL, error)
	// Timeout bounds each request but a policy wait (default a minute).
	Timeout time.Duration
	// Clock is our clock (time.Now when nil; tests set it off).
	Clock func() time.Time
}

// maxCAFile bounds the collector CA file (a PEM bundle).
const maxCAFile = 1 << 20

// maxAnswer bounds a JSON answer of the collector.
const maxAnswer = 1 << 20

// Client talks to the collector API.
type Client struct {
	base  string
	clock func() time.Time
	http  *http.Client
	// wait is http with a deadline past a policy wait's hold; both share
	// one transport, so over HTTP/2 the wait is a stream on the TLS
	// connection the reports use.
	wait *http.Client
	// skew is the collector's clock minus ours (nanoseconds), from the
	// Date header of its last answer: enroll proofs carry its time.
	skew atomic.Int64
}

// New builds a client for cfg.URL, its TLS pinned as cfg says.
func New(cfg Config) (*Client, error) {
	tlsCfg, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	// No ResponseHeaderTimeout: a policy wait gets its answer only after
	// up to a minute. Every request is bounded by its client's Timeout.
	tr := &http.Transport{
		TLSClientConfig:     tlsCfg,
		Proxy:               connectOnly(cfg.Proxy),
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        2,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	clock := cfg.Clock
	if clock == nil {
		clock = time.Now
	}
	return &Client{
		base:  strings.TrimRight(cfg.URL, "/"),
		clock: clock,
		http:  &http.Client{Transport: tr, Timeout: timeout},
		wait:  &http.Client{Transport: tr, Timeout: waitDeadline},
	}, nil
}

// tlsConfig is the TLS configuration of cfg: the CA file as roots, the
// fingerprint checked on every connection by verifyPinned.
func tlsConfig(cfg Config) (*tls.Config, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pemData, err := fsroot.ReadFile(cfg.CAFile, fsroot.Want{Max: maxCAFile, Follow: true})
		if err != nil {
			return nil, fmt.Errorf("collector CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("collector CA %s: no PEM certificate in it", cfg.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	if cfg.Fingerprint == "" {
		return tlsCfg, nil
	}
	fp, ok := stores.NormalizeSHA256(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(cfg.Fingerprint)), "sha256:"))
	if !ok {
		return nil, fmt.Errorf("collector fingerprint %q: want the SHA-256 of the collector's certificate, 64 hex digits (colons allowed)", cfg.Fingerprint)
	}
	roots := tlsCfg.RootCAs // the CA file too: both must hold
	var host string         // TLS sends no server name for an IP address
	if u, err := url.Parse(cfg.URL); err == nil {
		host = u.Hostname()
	}
	// The pin replaces crypto/tls's verification, which would ask for a
	// chain to the system roots.
	tlsCfg.InsecureSkipVerify = true
	tlsCfg.VerifyConnection = func(cs tls.ConnectionState) error {
		h := cs.ServerName
		if h == "" {
			h = host
		}
		return verifyPinned(cs, h, fp, roots)
	}
	return tlsCfg, nil
}

// connectOnly gives proxy (if any) https requests only, which the
// transport tunnels with CONNECT: TLS then runs end to end with the
// collector, and the pin is checked on the collector's own chain.
func connectOnly(proxy func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	if proxy == nil {
		return nil
	}
	return func(r *http.Request) (*url.URL, error) {
		if r.URL.Scheme != "https" {
			return nil, nil
		}
		return proxy(r)
	}
}

// URL is the address of path at the collector.
func (c *Client) URL(path string) string { return c.base + path }

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Now is the collector's time as last seen (our clock plus its skew).
func (c *Client) Now() time.Time { return c.clock().Add(time.Duration(c.skew.Load())) }

// noteDate records the collector's clock from an answer's Date header.
func (c *Client) noteDate(resp *http.Response) {
	if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		c.skew.Store(int64(t.Sub(c.clock())))
	}
}

// send runs req on hc and reads at most limit bytes of the answer. A
// refusal of the collector's certificate matches ErrCertificate.
func (c *Client) send(hc *http.Client, req *http.Request, limit int64) (*http.Response, []byte, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, markCertError(err)
	}
	defer resp.Body.Close()
	c.noteDate(resp)
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	return resp, body, err
}

// do sends in as JSON to path and decodes the 2xx answer into out; any
// other answer is an *APIError. header adds request headers.
func (c *Client) do(ctx context.Context, method, path string, header http.Header, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", api.ContentTypeJSON)
	resp, data, err := c.send(c.http, req, maxAnswer)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %w", method, path, apiError(resp, data))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: %w: %w", method, path, ErrBadAnswer, err)
	}
	return nil
}
