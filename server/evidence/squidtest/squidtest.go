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
)

const certgen = "/usr/lib/squid/security_file_certgen"

// squidRun is a real Squid with ssl-bump in a temp dir.
type squidRun struct {
	dir       string
	port      int
	accessLog string
	cacheLog  string
	cmd       *exec.Cmd
	exited    chan error
	stderr    *bytes.Buffer
}

// testCA makes a CA certificate and key (RSA: what every Squid build signs with).
func testCA(t testing.TB, cn string) (*x509.Certificate, *rsa.PrivateKey, []byte) {
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
	cert, _ := x509.ParseCertificate(der)
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func keyPEM(t testing.TB, key *rsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// originServer is the HTTPS site the clients fetch, on 127.0.0.1, with a
// certificate for "localhost" from its own CA.
func originServer(t testing.TB) (port int, caPEM []byte) {
	t.Helper()
	ca, caKey, caPEM := testCA(t, "Anchorwatch test origin CA")
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
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
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

// startSquid writes squid.conf and runs squid -N with ssl-bump on
// 127.0.0.1, signing host certificates with the interception CA and
// trusting the origin's CA upstream.
func startSquid(t testing.TB, interceptPEM, interceptKey, originCA []byte) *squidRun {
	t.Helper()
	squid := requireSquid(t)
	dir, err := os.MkdirTemp("", "anchorwatch-squid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &squidRun{dir: dir, port: freePort(t), accessLog: filepath.Join(dir, "access.log"), cacheLog: filepath.Join(dir, "cache.log"), exited: make(chan error, 1), stderr: &bytes.Buffer{}}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bundle := write("interception-ca.pem", append(append([]byte{}, interceptPEM...), interceptKey...))
	origin := write("origin-ca.pem", originCA)
	db := filepath.Join(dir, "ssl_db")
	if out, err := exec.Command(certgen, "-c", "-s", db, "-M", "4MB").CombinedOutput(); err != nil {
		t.Fatalf("%s -c: %v\n%s", certgen, err, out)
	}
	conf := fmt.Sprintf(`# anchorwatch end-to-end test: ssl-bump on loopback only
http_port 127.0.0.1:%d ssl-bump generate-host-certificates=on dynamic_cert_mem_cache_size=4MB tls-cert=%s
sslcrtd_program %s -s %s -M 4MB
sslcrtd_children 2 startup=1 idle=1
ssl_bump stare all
ssl_bump bump all
tls_outgoing_options cafile=%s
acl loopback src 127.0.0.0/8
http_access allow loopback
http_access deny all
access_log stdio:%s
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
`, s.port, bundle, certgen, db, origin, s.accessLog, s.cacheLog, filepath.Join(dir, "squid.pid"), dir)
	if os.Geteuid() == 0 {
		conf += "cache_effective_user proxy\n"
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
	}
	confPath := write("squid.conf", []byte(conf))
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
	cmd := s.cmd // stop clears s.cmd while Wait runs
	go func() { s.exited <- cmd.Wait() }()
	t.Cleanup(func() { s.stop(t) })
	// Ready when it accepts connections.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-s.exited:
			log, _ := os.ReadFile(s.cacheLog)
			t.Fatalf("squid exited before listening: %v\n%s\n%s", err, s.stderr, log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(s.cacheLog)
			t.Fatalf("squid not listening on 127.0.0.1:%d\n%s\n%s", s.port, s.stderr, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// stop shuts squid down (SIGTERM, then SIGKILL of its process group).
func (s *squidRun) stop(t testing.TB) {
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

// curl fetches url through the proxy from a given loopback source address,
// with no proxy settings from the environment.
func curl(t testing.TB, proxyPort int, source, cafile, url string) (string, error) {
	t.Helper()
	cmd := exec.Command("curl", "-sS", "--max-time", "20", "--interface", source,
		"--proxy", fmt.Sprintf("http://127.0.0.1:%d", proxyPort), "--cacert", cafile, url)
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
	AccessLog string
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
	_, icaKey, icaPEM := testCA(t, "Anchorwatch test interception CA")
	originPort, originCA := originServer(t)
	sq := startSquid(t, icaPEM, keyPEM(t, icaKey), originCA)

	trusting := filepath.Join(sq.dir, "client-trusts-interception.pem")
	os.WriteFile(trusting, icaPEM, 0o644)
	notTrusting := filepath.Join(sq.dir, "client-trusts-origin-only.pem")
	os.WriteFile(notTrusting, originCA, 0o644)
	url := fmt.Sprintf("https://localhost:%d/", originPort)

	body, err := curl(t, sq.port, TrustingClient, trusting, url)
	if err != nil || !strings.Contains(body, "hello from the origin") {
		log, _ := os.ReadFile(sq.cacheLog)
		t.Fatalf("client trusting the interception CA: %v, body %q\ncache.log:\n%s", err, body, log)
	}
	if _, err := curl(t, sq.port, RejectingClient, notTrusting, url); err == nil {
		t.Fatal("client without the interception CA fetched through ssl-bump: the proxy is not intercepting")
	}
	sq.stop(t)
	return Result{Dir: sq.dir, AccessLog: sq.accessLog, CacheLog: sq.cacheLog}
}
