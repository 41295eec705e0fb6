package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config configures a grading run.
type Config struct {
	// Proxy is the proxy's URL (http://host:port).
	Proxy *url.URL
	// CA is the interception CA the proxy signs with; nil learns it from
	// the chain the proxy sends for the baseline origin.
	CA *x509.Certificate
	// PKI is the grading PKI the proxy trusts upstream.
	PKI *PKI
	// Listen is where the origins listen, reachable by the proxy
	// ("IP:port"); empty: the local address that routes to the proxy,
	// port 443.
	Listen string
	// ConnectByName makes the grader CONNECT to "<check>.<domain>:port",
	// which the proxy must resolve to the origins; by default it CONNECTs
	// to the origins' address and names the check only in the SNI.
	ConnectByName bool
	// Timeout bounds each check (default 20s).
	Timeout time.Duration
	// OpenSSL is the openssl binary for origins Go cannot play.
	OpenSSL string
	// Progress, if set, is called after each check.
	Progress func(Result)
}

// Run grades the proxy: it starts the origins, connects to each through
// the proxy as a client would, classifies what came back and grades the
// run. The report is returned even with an error when it holds results
// (ErrBaseline: the proxy does not pass the sound origin).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Proxy == nil || cfg.Proxy.Host == "" {
		return nil, errors.New("proxy grade: the proxy address is required (http://HOST:PORT)")
	}
	if cfg.Proxy.Scheme != "http" {
		return nil, fmt.Errorf("proxy grade: %s: only http:// proxies (CONNECT over plain HTTP) are supported", cfg.Proxy.Redacted())
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 20 * time.Second
	}
	if cfg.Listen == "" {
		ip, err := routedAddr(cfg.Proxy.Host)
		if err != nil {
			return nil, err
		}
		cfg.Listen = net.JoinHostPort(ip, "443")
	}
	start := time.Now()
	og, err := StartOrigins(ctx, cfg.PKI, OriginsOptions{Listen: cfg.Listen, OpenSSL: cfg.OpenSSL, Now: start})
	if err != nil {
		return nil, err
	}
	defer og.Close()
	g := &grader{cfg: cfg, og: og, ica: cfg.CA}
	rep := &Report{Proxy: cfg.Proxy.Redacted(), Started: start.UTC()}
	for _, c := range Checks() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res := g.run(ctx, c)
		rep.Results = append(rep.Results, res)
		if cfg.Progress != nil {
			cfg.Progress(res)
		}
	}
	if g.ica != nil {
		rep.InterceptionCA = g.ica.Subject.String()
	}
	if h := og.Hello(og.spec(CheckValid).host); h != nil {
		rep.Upstream = &Upstream{HelloGrade: GradeHello(h), ServerName: h.ServerName}
	}
	rep.Duration = time.Since(start).Round(time.Millisecond).String()
	return rep, rep.Finish()
}

// routedAddr is the local address the system uses to reach host.
func routedAddr(hostport string) (string, error) {
	c, err := net.Dial("udp", hostport)
	if err != nil {
		return "", fmt.Errorf("proxy grade: no route to %s: %w (give --listen)", hostport, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String(), nil
}

type grader struct {
	cfg Config
	og  *Origins
	ica *x509.Certificate // the interception CA, given or learned from the baseline
}

// run probes the origin of one check and judges it.
func (g *grader) run(ctx context.Context, c Check) Result {
	s := g.og.spec(c.ID)
	res := Result{Check: c, Host: s.host}
	var p Probe
	if !g.og.Playable(s.host) {
		p.NotRun = "openssl is needed to play this origin and was not found"
	} else {
		cctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
		p = g.probe(cctx, c.ID, s.host)
		cancel()
	}
	var learnErr error
	if c.ID == CheckValid && g.ica == nil && p.NotRun == "" {
		g.ica, learnErr = learnCA(p.Chain)
	}
	res.Outcome, res.Detail = Classify(p, s.host, s.leaf(), g.ica, time.Now())
	if learnErr != nil && len(p.Chain) > 0 {
		res.Detail += "; " + learnErr.Error()
	}
	res.Upstream = g.upstream(s.host)
	res.Pass = Judge(c, res.Outcome)
	if !res.Pass {
		res.Grade, res.Advice = c.FailGrade, c.Fix
	}
	return res
}

// upstream says how far the proxy got with the origin.
func (g *grader) upstream(host string) string {
	if n := g.og.Negotiated(host); n != "" {
		return n
	}
	if h := g.og.Hello(host); h != nil {
		return "no request reached the origin (the proxy offered up to " + VersionName(h.MaxVersion()) + ")"
	}
	return "the proxy did not connect to the origin"
}

// learnCA finds, in the chain the proxy sent for the baseline, the CA
// that signed the leaf.
func learnCA(chain []*x509.Certificate) (*x509.Certificate, error) {
	if len(chain) > 0 {
		for _, c := range chain[1:] {
			if c.IsCA && chain[0].CheckSignatureFrom(c) == nil {
				return c, nil
			}
		}
	}
	return nil, errors.New("the proxy did not send the CA that signed its certificate: give --ca")
}

// probe connects to host through the proxy as a browser would, but
// accepting every certificate, version and cipher: it records what the
// client got and leaves the judging to Classify.
func (g *grader) probe(ctx context.Context, id, host string) (p Probe) {
	d := net.Dialer{Timeout: g.cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", g.cfg.Proxy.Host)
	if err != nil {
		p.ConnectErr = err.Error()
		return p
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	target := g.target(host)
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: anchorwatch-proxy-grade\r\n\r\n", target, target)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		p.ConnectErr = err.Error()
		return p
	}
	resp.Body.Close()
	if p.ConnectStatus = resp.StatusCode; p.ConnectStatus != http.StatusOK {
		return p
	}
	tc := tls.Client(&bufferedConn{Conn: conn, r: br}, &tls.Config{
		ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, CipherSuites: allCipherSuites(),
	})
	if err := tc.HandshakeContext(ctx); err != nil {
		p.HandshakeErr = err.Error()
		return p
	}
	p.Chain = tc.ConnectionState().PeerCertificates
	fmt.Fprintf(tc, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: anchorwatch-proxy-grade\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n", MarkerPath, host)
	hr, err := http.ReadResponse(bufio.NewReader(tc), &http.Request{Method: http.MethodGet})
	if err != nil {
		p.ReadErr = err.Error()
		return p
	}
	defer hr.Body.Close()
	p.HTTPStatus = hr.StatusCode
	body, err := io.ReadAll(io.LimitReader(hr.Body, 64<<10))
	if err != nil {
		p.ReadErr = err.Error()
	}
	p.Marker = hr.StatusCode == http.StatusOK && strings.Contains(string(body), g.og.Marker(id))
	return p
}

// target is what the grader CONNECTs to for host.
func (g *grader) target(host string) string {
	_, port, _ := net.SplitHostPort(g.og.Addr)
	if g.cfg.ConnectByName {
		return net.JoinHostPort(host, port)
	}
	return g.og.Addr
}
