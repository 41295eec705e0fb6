//go:build unix

package squidtest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/server/evidence"
)

const certgen = "/usr/lib/squid/security_file_certgen"

// Squid is a real Squid with ssl-bump running in a temp dir on 127.0.0.1.
type Squid struct {
	Dir       string // temp dir, removed at test cleanup
	Addr      string // "127.0.0.1:port", the proxy's address
	Port      int
	AccessLog string // written with the anchorwatch logformat (evidence.SquidLogFormat)
	CacheLog  string
	cmd       *exec.Cmd
	exited    chan error
	stderr    *bytes.Buffer
}

// Options configure Start. The zero value is the ssl-bump proxy of Run.
type Options struct {
	// InterceptCert and InterceptKey are the interception CA (PEM) Squid
	// signs host certificates with; NewCA makes one.
	InterceptCert, InterceptKey []byte
	// UpstreamCAs (PEM) are trusted upstream besides the system store
	// (tls_outgoing_options cafile=).
	UpstreamCAs []byte
	// OutgoingOptions are added to tls_outgoing_options, e.g.
	// "flags=DONT_VERIFY_PEER min-version=1.0".
	OutgoingOptions string
	// Hosts are written to a hosts_file Squid reads: name -> address.
	Hosts map[string]string
	// SSLPortsOnly adds Debian's default rule that allows CONNECT to port
	// 443 only.
	SSLPortsOnly bool
	// BeforeBump are lines placed before the ssl_bump rules (acl and
	// ssl_bump splice lines, an include).
	BeforeBump []string
	// Bump are the ssl_bump rules; default "stare all" then "bump all".
	Bump []string
	// Extra lines at the end (sslproxy_cert_error allow all, …).
	Extra []string
}

// NewCA makes an RSA CA certificate and key (what every Squid build signs
// with), returned as PEM.
func NewCA(t testing.TB, cn string) (cert *x509.Certificate, certPEM, keyPEM []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Anchorwatch test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// originServer is the HTTPS site the clients fetch, on 127.0.0.1, with a
// certificate for "localhost" from its own CA.
func originServer(t testing.TB) (port int, caPEM []byte) {
	t.Helper()
	caCert, caPEM, caKeyPEM := NewCA(t, "Anchorwatch test origin CA")
	block, _ := pem.Decode(caKeyPEM)
	caKey, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, "hello from the origin")
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port, caPEM
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func requireSquid(t testing.TB) string {
	t.Helper()
	squid, err := exec.LookPath("squid")
	if err != nil {
		t.Fatal("squid not found: install the Debian package squid-openssl")
	}
	out, err := exec.Command(squid, "-v").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--with-openssl")) {
		t.Fatalf("%s -v: %v: squid without OpenSSL (no ssl-bump): install the Debian package squid-openssl\n%s", squid, err, out)
	}
	if _, err := os.Stat(certgen); err != nil {
		t.Fatalf("%s: %v: install the Debian package squid-openssl", certgen, err)
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl not found: install the Debian package curl")
	}
	return squid
}

// config renders squid.conf for o in dir.
func (s *Squid) config(o Options, bundle, upstream, hosts, db string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# anchorwatch test: ssl-bump on loopback only\n")
	fmt.Fprintf(&b, "http_port 127.0.0.1:%d ssl-bump generate-host-certificates=on dynamic_cert_mem_cache_size=4MB tls-cert=%s\n", s.Port, bundle)
	fmt.Fprintf(&b, "sslcrtd_program %s -s %s -M 4MB\nsslcrtd_children 2 startup=1 idle=1\n", certgen, db)
	for _, l := range o.BeforeBump {
		fmt.Fprintln(&b, l)
	}
	bump := o.Bump
	if len(bump) == 0 {
		bump = []string{"stare all", "bump all"}
	}
	for _, r := range bump {
		fmt.Fprintf(&b, "ssl_bump %s\n", r)
	}
	out := strings.TrimSpace("cafile=" + upstream + " " + o.OutgoingOptions)
	fmt.Fprintf(&b, "tls_outgoing_options %s\n", out)
	if hosts != "" {
		fmt.Fprintf(&b, "hosts_file %s\n", hosts)
	}
	if o.SSLPortsOnly {
		b.WriteString("acl SSL_ports port 443\nhttp_access deny CONNECT !SSL_ports\n")
	}
	fmt.Fprintf(&b, `acl loopback src 127.0.0.0/8
http_access allow loopback
http_access deny all
logformat anchorwatch %s
access_log stdio:%s anchorwatch
cache_log %s
cache_store_log none
cache deny all
pid_filename %s
coredump_dir %s
visible_hostname anchorwatch-test
dns_nameservers 127.0.0.1
udp_incoming_address 127.0.0.1
udp_outgoing_address 127.0.0.1
icp_port 0
htcp_port 0
pinger_enable off
shutdown_lifetime 0 seconds
`, evidence.SquidLogFormat, s.AccessLog, s.CacheLog, filepath.Join(s.Dir, "squid.pid"), s.Dir)
	for _, l := range o.Extra {
		fmt.Fprintln(&b, l)
	}
	return b.String()
}

// Start writes squid.conf for o and runs squid -N on 127.0.0.1 until the
// test ends. It fails t if Squid does not start.
func Start(t testing.TB, o Options) *Squid {
	t.Helper()
	squid := requireSquid(t)
	dir, err := os.MkdirTemp("", "anchorwatch-squid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	port := freePort(t)
	s := &Squid{Dir: dir, Port: port, Addr: fmt.Sprintf("127.0.0.1:%d", port), AccessLog: filepath.Join(dir, "access.log"),
		CacheLog: filepath.Join(dir, "cache.log"), exited: make(chan error, 1), stderr: &bytes.Buffer{}}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bundle := write("interception-ca.pem", append(append([]byte{}, o.InterceptCert...), o.InterceptKey...))
	upstream := write("upstream-ca.pem", o.UpstreamCAs)
	hosts := ""
	if len(o.Hosts) > 0 {
		var hb strings.Builder
		for name, addr := range o.Hosts {
			fmt.Fprintf(&hb, "%s %s\n", addr, name)
		}
		hosts = write("hosts", []byte(hb.String()))
	}
	db := filepath.Join(dir, "ssl_db")
	if out, err := exec.Command(certgen, "-c", "-s", db, "-M", "4MB").CombinedOutput(); err != nil {
		t.Fatalf("%s -c: %v\n%s", certgen, err, out)
	}
	confPath := write("squid.conf", []byte(s.config(o, bundle, upstream, hosts, db)))
	if os.Geteuid() == 0 {
		handToProxyUser(t, dir)
	}
	if out, err := exec.Command(squid, "-k", "parse", "-f", confPath).CombinedOutput(); err != nil {
		t.Fatalf("squid -k parse: %v\n%s", err, out)
	}
	s.cmd = exec.Command(squid, "-N", "-f", confPath)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.stderr, s.stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting squid: %v", err)
	}
	cmd := s.cmd // Stop clears s.cmd while Wait runs
	go func() { s.exited <- cmd.Wait() }()
	t.Cleanup(func() { s.Stop(t) })
	s.waitListening(t)
	return s
}

// handToProxyUser makes Squid, which drops root for the user proxy, able
// to write its logs and certificate database in dir.
func handToProxyUser(t testing.TB, dir string) {
	t.Helper()
	u, err := user.Lookup("proxy")
	if err != nil {
		t.Fatalf("user proxy: %v (Debian's squid-common creates it)", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	os.Chmod(dir, 0o755)
	filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			os.Lchown(p, uid, gid)
		}
		return nil
	})
	conf := filepath.Join(dir, "squid.conf")
	data, _ := os.ReadFile(conf)
	os.WriteFile(conf, append(data, "cache_effective_user proxy\n"...), 0o644)
}

func (s *Squid) waitListening(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-s.exited:
			log, _ := os.ReadFile(s.CacheLog)
			t.Fatalf("squid exited before listening: %v\n%s\n%s", err, s.stderr, log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(s.CacheLog)
			t.Fatalf("squid not listening on %s\n%s\n%s", s.Addr, s.stderr, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts squid down (SIGTERM, then SIGKILL of its process group), so
// every log line is written.
func (s *Squid) Stop(t testing.TB) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	pid := s.cmd.Process.Pid
	s.cmd = nil
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-s.exited
	}
	// The certificate helpers leave with their parent; make sure.
	syscall.Kill(-pid, syscall.SIGKILL)
}

// Curl fetches url through the proxy at proxyAddr from a given loopback
// source address, trusting only cafile, with no proxy settings from the
// environment. It returns the body.
func Curl(t testing.TB, proxyAddr, source, cafile, url string) (string, error) {
	t.Helper()
	cmd := exec.Command("curl", "-sS", "--max-time", "20", "--interface", source,
		"--proxy", "http://"+proxyAddr, "--cacert", cafile, url)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// Clients are the loopback source addresses of the two test clients.
const (
	TrustingClient  = "127.0.0.2" // trusts the interception CA: fetches through the bump
	RejectingClient = "127.0.0.3" // trusts only the origin's CA: refuses the interception certificate
)

// Result is what a Run leaves behind: Squid's real logs.
type Result struct {
	Dir       string // temp dir, removed at test cleanup
	AccessLog string // anchorwatch logformat (native fields first)
	CacheLog  string
}

// Run starts a real ssl-bump Squid (Debian package squid-openssl) on
// 127.0.0.1 with a fresh test interception CA and a local HTTPS origin,
// fetches through it with curl from TrustingClient (succeeds) and from
// RejectingClient (refuses the interception certificate), stops Squid so
// every log line is written, and returns the logs. It fails t if any of
// that does not happen as described. Squid is always torn down.
func Run(t testing.TB) Result {
	t.Helper()
	_, icaPEM, icaKey := NewCA(t, "Anchorwatch test interception CA")
	originPort, originCA := originServer(t)
	sq := Start(t, Options{InterceptCert: icaPEM, InterceptKey: icaKey, UpstreamCAs: originCA})

	trusting := filepath.Join(sq.Dir, "client-trusts-interception.pem")
	os.WriteFile(trusting, icaPEM, 0o644)
	notTrusting := filepath.Join(sq.Dir, "client-trusts-origin-only.pem")
	os.WriteFile(notTrusting, originCA, 0o644)
	url := fmt.Sprintf("https://localhost:%d/", originPort)

	body, err := Curl(t, sq.Addr, TrustingClient, trusting, url)
	if err != nil || !strings.Contains(body, "hello from the origin") {
		log, _ := os.ReadFile(sq.CacheLog)
		t.Fatalf("client trusting the interception CA: %v, body %q\ncache.log:\n%s", err, body, log)
	}
	if _, err := Curl(t, sq.Addr, RejectingClient, notTrusting, url); err == nil {
		t.Fatal("client without the interception CA fetched through ssl-bump: the proxy is not intercepting")
	}
	sq.Stop(t)
	return Result{Dir: sq.Dir, AccessLog: sq.AccessLog, CacheLog: sq.CacheLog}
}

// More test clients of RunHandshakes, each failing the handshake with the
// proxy in its own way.
const (
	OldTLSClient  = "127.0.0.4" // offers only TLS 1.0, which the proxy refuses; it trusts the CA
	StalledClient = "127.0.0.5" // opens a tunnel and never starts the handshake
)

// RunHandshakes is Run with two more clients, both trusting the
// interception CA: OldTLSClient connects with `openssl s_client -tls1`
// (a protocol mismatch, Squid on OpenSSL 3 refuses TLS 1.0) and
// StalledClient opens a CONNECT tunnel, sends nothing and gives up after
// two seconds (a client timeout).
func RunHandshakes(t testing.TB) Result {
	t.Helper()
	_, icaPEM, icaKey := NewCA(t, "Anchorwatch test interception CA")
	originPort, originCA := originServer(t)
	sq := Start(t, Options{InterceptCert: icaPEM, InterceptKey: icaKey, UpstreamCAs: originCA})
	trusting := filepath.Join(sq.Dir, "client-trusts-interception.pem")
	os.WriteFile(trusting, icaPEM, 0o644)
	notTrusting := filepath.Join(sq.Dir, "client-trusts-origin-only.pem")
	os.WriteFile(notTrusting, originCA, 0o644)
	url := fmt.Sprintf("https://localhost:%d/", originPort)

	if body, err := Curl(t, sq.Addr, TrustingClient, trusting, url); err != nil || !strings.Contains(body, "hello from the origin") {
		t.Fatalf("client trusting the interception CA: %v, body %q", err, body)
	}
	if _, err := Curl(t, sq.Addr, RejectingClient, notTrusting, url); err == nil {
		t.Fatal("client without the interception CA fetched through ssl-bump: the proxy is not intercepting")
	}
	oldTLS := exec.Command("openssl", "s_client", "-bind", OldTLSClient, "-tls1", "-cipher", "DEFAULT:@SECLEVEL=0",
		"-CAfile", trusting, "-proxy", sq.Addr, "-connect", fmt.Sprintf("localhost:%d", originPort), "-servername", "localhost")
	oldTLS.Stdin = strings.NewReader("")
	if out, _ := oldTLS.CombinedOutput(); !bytes.Contains(out, []byte("Cipher is (NONE)")) {
		t.Fatalf("openssl s_client -tls1 completed a handshake through Squid:\n%s", out)
	}
	stall(t, sq.Addr, StalledClient, fmt.Sprintf("localhost:%d", originPort), 2*time.Second)
	sq.Stop(t)
	return Result{Dir: sq.Dir, AccessLog: sq.AccessLog, CacheLog: sq.CacheLog}
}

// stall opens a CONNECT tunnel to target from source, then waits without
// sending a byte and closes.
func stall(t testing.TB, proxyAddr, source, target string, wait time.Duration) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil || !bytes.Contains(buf[:n], []byte(" 200 ")) {
		t.Fatalf("CONNECT through squid: %v %q", err, buf[:n])
	}
	time.Sleep(wait)
}
