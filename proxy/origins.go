package proxy

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// MarkerPath is the path the grader fetches from every origin.
const MarkerPath = "/anchorwatch-grade"

// Origins are the grader's test sites, all behind one address: a router
// reads each connection's ClientHello, records what the proxy offered,
// and hands the connection to the origin named by its SNI; anything that
// is not TLS is the CRL and OCSP service.
type Origins struct {
	// Addr is where the proxy must connect ("IP:port").
	Addr  string
	pki   *PKI
	nonce string
	specs map[string]*originSpec // by host name
	back  map[string]string      // host name -> backend address
	rev   *revocation
	crl   []byte

	ln          net.Listener
	httpConn    chan net.Conn
	serviceDone chan struct{}
	servers     []*http.Server
	procs       []*exec.Cmd
	tmp         string
	wg          sync.WaitGroup

	mu         sync.Mutex
	hellos     map[string]*ClientHello // first ClientHello per SNI
	negotiated map[string]string       // host -> "TLS 1.3 TLS_AES_128_GCM_SHA256"
	closed     bool
}

// OriginsOptions configure StartOrigins.
type OriginsOptions struct {
	// Listen is the address the proxy reaches the origins at ("IP:port";
	// port 0 picks one).
	Listen string
	// OpenSSL is the openssl binary for the origins Go cannot play; empty
	// looks it up on PATH, and those checks are not run without it.
	OpenSSL string
	Now     time.Time
}

// StartOrigins starts every check's origin under p. Close stops them.
func StartOrigins(ctx context.Context, p *PKI, o OriginsOptions) (_ *Origins, err error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("origins: listen on %s: %w (the proxy must reach this address; a port below 1024 needs root or CAP_NET_BIND_SERVICE, "+
			"another port needs the proxy to allow CONNECT to it: give --listen IP:PORT)", o.Listen, err)
	}
	og := &Origins{Addr: ln.Addr().String(), pki: p, ln: ln, nonce: newNonce(), specs: map[string]*originSpec{}, back: map[string]string{},
		httpConn: make(chan net.Conn), hellos: map[string]*ClientHello{}, negotiated: map[string]string{}}
	defer func() {
		if err != nil {
			og.Close()
		}
	}()
	specs, rev, err := buildOrigins(p, "http://"+og.Addr, o.Now)
	if err != nil {
		return nil, err
	}
	og.rev = rev
	if og.crl, err = p.crl(rev, o.Now); err != nil {
		return nil, err
	}
	if og.tmp, err = os.MkdirTemp("", "anchorwatch-grade-"); err != nil {
		return nil, err
	}
	for _, s := range specs {
		og.specs[s.host] = s
		addr, err := og.startOrigin(ctx, s, o.OpenSSL)
		if err != nil {
			return nil, err
		}
		og.back[s.host] = addr // "" when it cannot be played here
	}
	og.startService()
	og.wg.Add(1)
	go og.route()
	return og, nil
}

func newNonce() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Marker is what the origin of check id answers on MarkerPath in this run.
func (og *Origins) Marker(id string) string {
	return "anchorwatch-grade-origin " + id + " " + og.nonce
}

// startOrigin runs the server of one check on 127.0.0.1 and returns its
// address; "" when openssl is needed and missing.
func (og *Origins) startOrigin(ctx context.Context, s *originSpec, openssl string) (string, error) {
	if s.opensslCiphers != "" {
		return og.startOpenSSL(ctx, s, openssl)
	}
	cert := tls.Certificate{PrivateKey: s.key, Leaf: s.leaf()}
	for _, c := range s.chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: s.minVersion, MaxVersion: s.maxVersion, CipherSuites: s.ciphers}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if len(s.ciphers) > 0 || s.minVersion < tls.VersionTLS12 && s.minVersion != 0 {
		cfg.CipherSuites = s.ciphers
		if len(cfg.CipherSuites) == 0 {
			cfg.CipherSuites = allCipherSuites()
		}
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		return "", err
	}
	id, host := s.check.ID, s.host
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.TLS != nil {
				og.setNegotiated(host, VersionName(r.TLS.Version)+" "+tls.CipherSuiteName(r.TLS.CipherSuite))
			}
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintln(w, og.Marker(id))
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          discardLog(),
	}
	og.servers = append(og.servers, srv)
	og.wg.Add(1)
	go func() { defer og.wg.Done(); srv.Serve(ln) }()
	return ln.Addr().String(), nil
}

// allCipherSuites is every suite Go implements, for an origin that must
// accept whatever the proxy offers at an old version.
func allCipherSuites() []uint16 {
	var ids []uint16
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		ids = append(ids, s.ID)
	}
	return ids
}

// startOpenSSL plays an origin with openssl s_server -WWW in a private
// temp dir holding the marker file.
func (og *Origins) startOpenSSL(ctx context.Context, s *originSpec, openssl string) (string, error) {
	if openssl == "" {
		p, err := exec.LookPath("openssl")
		if err != nil {
			return "", nil // not run: reported per check
		}
		openssl = p
	}
	dir, err := os.MkdirTemp(og.tmp, s.check.ID+"-")
	if err != nil {
		return "", err
	}
	keyData, err := keyPEM(s.key)
	if err != nil {
		return "", err
	}
	files := map[string][]byte{"key.pem": keyData, "cert.pem": certPEM(s.leaf()), "chain.pem": certPEM(s.chain[1]),
		strings.TrimPrefix(MarkerPath, "/"): []byte(og.Marker(s.check.ID) + "\n")}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return "", err
		}
	}
	cmd := exec.CommandContext(ctx, openssl, "s_server", "-accept", "127.0.0.1:0", "-cert", "cert.pem", "-key", "key.pem",
		"-cert_chain", "chain.pem", "-tls1_2", "-cipher", s.opensslCiphers, "-WWW")
	cmd.Dir = dir
	cmd.Stdin = nil
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("origin %s: %s s_server: %w", s.check.ID, openssl, err)
	}
	og.procs = append(og.procs, cmd)
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ACCEPT "); ok {
				addr <- a
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			return "", fmt.Errorf("origin %s: openssl s_server exited without listening", s.check.ID)
		}
		return a, nil
	case <-time.After(10 * time.Second):
		return "", fmt.Errorf("origin %s: openssl s_server did not start listening", s.check.ID)
	}
}

func (og *Origins) setNegotiated(host, v string) {
	og.mu.Lock()
	defer og.mu.Unlock()
	og.negotiated[host] = v
}

// Negotiated is what the origin for host agreed on with the proxy, if it
// served a request.
func (og *Origins) Negotiated(host string) string {
	og.mu.Lock()
	defer og.mu.Unlock()
	return og.negotiated[host]
}

// Hello is the first ClientHello the proxy sent for host, or nil.
func (og *Origins) Hello(host string) *ClientHello {
	og.mu.Lock()
	defer og.mu.Unlock()
	return og.hellos[host]
}

// Playable reports whether the origin for host runs here.
func (og *Origins) Playable(host string) bool { return og.back[host] != "" }

// spec returns the origin of check id.
func (og *Origins) spec(id string) *originSpec {
	for _, s := range og.specs {
		if s.check.ID == id {
			return s
		}
	}
	return nil
}

// Close stops every origin and the router.
func (og *Origins) Close() {
	og.mu.Lock()
	if og.closed {
		og.mu.Unlock()
		return
	}
	og.closed = true
	og.mu.Unlock()
	og.ln.Close()
	for _, s := range og.servers {
		s.Close()
	}
	for _, c := range og.procs {
		if c.Process != nil {
			c.Process.Kill()
			c.Wait()
		}
	}
	og.wg.Wait()
	if og.tmp != "" {
		os.RemoveAll(og.tmp)
	}
}

// route accepts the proxy's connections and hands each to its origin.
func (og *Origins) route() {
	defer og.wg.Done()
	for {
		c, err := og.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(50 * time.Millisecond) // out of descriptors: let some close
			continue
		}
		og.wg.Add(1)
		go func() { defer og.wg.Done(); og.handle(c) }()
	}
}

// Deadlines of one routed connection.
const (
	helloTimeout = 10 * time.Second
	connLifetime = 60 * time.Second
)

func (og *Origins) handle(c net.Conn) {
	c.SetDeadline(time.Now().Add(helloTimeout))
	br := bufio.NewReader(c)
	first, err := br.Peek(1)
	if err != nil {
		c.Close()
		return
	}
	if first[0] != 0x16 { // not TLS: the CRL and OCSP service
		og.serveHTTP(&bufferedConn{Conn: c, r: br})
		return
	}
	defer c.Close()
	hello, raw, err := ReadClientHello(br)
	if err != nil || hello.ServerName == "" {
		return
	}
	og.mu.Lock()
	if _, seen := og.hellos[hello.ServerName]; !seen {
		og.hellos[hello.ServerName] = hello
	}
	og.mu.Unlock()
	backend := og.back[hello.ServerName]
	if backend == "" {
		return
	}
	b, err := net.DialTimeout("tcp", backend, 5*time.Second)
	if err != nil {
		return
	}
	defer b.Close()
	deadline := time.Now().Add(connLifetime)
	c.SetDeadline(deadline)
	b.SetDeadline(deadline)
	if _, err := b.Write(raw); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(b, br); closeWrite(b); done <- struct{}{} }()
	go func() { io.Copy(c, b); closeWrite(c); done <- struct{}{} }()
	<-done
	<-done
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// bufferedConn is a connection whose first bytes were peeked.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }
