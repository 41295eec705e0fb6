package pkitest

import (
	"bufio"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/policy"
)

// CA is one certificate authority of the test PKI, with its openssl ca
// database.
type CA struct {
	Name     string // file stem: "root", "inter", …
	Dir      string // its openssl ca directory
	CertFile string // PEM
	KeyFile  string // PEM
	Cert     *x509.Certificate
	// OCSPPort is the port its responder listens on (named in the AIA of
	// the certificates it issues).
	OCSPPort int
	parent   *CA
}

// PKI is a root → intermediate → leaf hierarchy with CRLs served over
// HTTP on 127.0.0.1.
type PKI struct {
	Dir     string
	HTTP    *httptest.Server // serves WWW at /
	WWW     string           // directory served: root.crl, inter.crl, root.der
	Root    *CA
	Inter   *CA
	Leaf    *x509.Certificate
	LeafKey string
}

// Openssl runs openssl with args in dir, failing tb on error.
func Openssl(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// FreePort returns a TCP port free on 127.0.0.1 now (for a responder that
// takes a port number, not a listener).
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ReadCert parses a PEM certificate file.
func ReadCert(tb testing.TB, file string) *x509.Certificate {
	tb.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		tb.Fatalf("%s: no PEM block", file)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// New builds the PKI: a 10-year root (keyCertSign, cRLSign), an
// intermediate as an interception CA should be (pathlen 0, serverAuth,
// CDP and AIA over http), a leaf for intranet.example, fresh CRLs of
// both CAs (7 days) and the root in DER at /root.der.
func New(tb testing.TB) *PKI {
	tb.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		tb.Fatal("openssl not found: install the Debian package openssl")
	}
	dir := tb.TempDir()
	p := &PKI{Dir: dir, WWW: filepath.Join(dir, "www")}
	if err := os.MkdirAll(p.WWW, 0o755); err != nil {
		tb.Fatal(err)
	}
	p.HTTP = httptest.NewServer(http.FileServer(http.Dir(p.WWW)))
	tb.Cleanup(p.HTTP.Close)
	p.Root = p.NewRoot(tb, "root", "/CN=Anchorwatch Test Root/O=Anchorwatch test")
	p.Inter = p.Issue(tb, p.Root, "inter", "/CN=Anchorwatch Test Inspection CA/O=Anchorwatch test", p.InterExt("", ""))
	p.Leaf, p.LeafKey = p.IssueLeaf(tb, p.Inter, "leaf", "intranet.example")
	p.GenCRL(tb, p.Root, "-crldays", "7")
	p.GenCRL(tb, p.Inter, "-crldays", "7")
	if err := os.WriteFile(filepath.Join(p.WWW, "root.der"), p.Root.Cert.Raw, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// URL returns the HTTP server's URL of a file in WWW.
func (p *PKI) URL(name string) string { return p.HTTP.URL + "/" + name }

// caConfig is an openssl ca configuration; extension sections are added
// per issue in a file of their own.
const caConfig = `[ ca ]
default_ca = CA_default
[ CA_default ]
dir = %[1]s
database = $dir/index.txt
new_certs_dir = $dir/certs
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = %[2]s
private_key = %[3]s
default_md = sha256
default_days = 365
default_crl_days = 7
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
organizationName = optional
`

func (p *PKI) initCA(tb testing.TB, name string) *CA {
	tb.Helper()
	ca := &CA{Name: name, Dir: filepath.Join(p.Dir, name+"-ca"), CertFile: filepath.Join(p.Dir, name+".pem"),
		KeyFile: filepath.Join(p.Dir, name+".key"), OCSPPort: FreePort(tb)}
	for _, d := range []string{ca.Dir, filepath.Join(ca.Dir, "certs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	for f, v := range map[string]string{"index.txt": "", "serial": "1000\n", "crlnumber": "1000\n",
		"openssl.cnf": fmt.Sprintf(caConfig, ca.Dir, ca.CertFile, ca.KeyFile)} {
		if err := os.WriteFile(filepath.Join(ca.Dir, f), []byte(v), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return ca
}

// NewRoot makes a self-signed root valid for 10 years (ECDSA P-256,
// basicConstraints critical CA:true, keyUsage keyCertSign, cRLSign).
func (p *PKI) NewRoot(tb testing.TB, name, subject string) *CA {
	tb.Helper()
	ca := p.initCA(tb, name)
	Openssl(tb, p.Dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", ca.KeyFile, "-out", ca.CertFile, "-days", "3650", "-subj", subject,
		"-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
		"-addext", "subjectKeyIdentifier=hash")
	ca.Cert = ReadCert(tb, ca.CertFile)
	return ca
}

// InterExt is the extension section of a well-made interception CA whose
// CDP is cdp and OCSP responder ocsp ("" for the PKI's own: root.crl on
// the HTTP server, the root's responder port).
func (p *PKI) InterExt(cdp, ocsp string) string {
	if cdp == "" {
		cdp = p.URL("root.crl")
	}
	if ocsp == "" {
		ocsp = fmt.Sprintf("http://127.0.0.1:%d", p.Root.OCSPPort)
	}
	return "basicConstraints = critical,CA:true,pathlen:0\n" +
		"keyUsage = critical,keyCertSign,cRLSign\n" +
		"extendedKeyUsage = serverAuth\n" +
		"subjectKeyIdentifier = hash\n" +
		"authorityKeyIdentifier = keyid:always\n" +
		"crlDistributionPoints = URI:" + cdp + "\n" +
		"authorityInfoAccess = OCSP;URI:" + ocsp + ",caIssuers;URI:" + p.URL("root.der") + "\n"
}

// Issue makes a CA named name under parent with `openssl ca`, valid for
// three years, with the extension section ext.
func (p *PKI) Issue(tb testing.TB, parent *CA, name, subject, ext string) *CA {
	tb.Helper()
	ca := p.initCA(tb, name)
	ca.parent = parent
	csr := filepath.Join(p.Dir, name+".csr")
	Openssl(tb, p.Dir, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", ca.KeyFile, "-out", csr, "-subj", subject)
	p.sign(tb, parent, csr, ca.CertFile, ext, "1095")
	ca.Cert = ReadCert(tb, ca.CertFile)
	return ca
}

// IssueLeaf makes a server certificate for host under ca (CDP
// <ca>.crl on the HTTP server, OCSP at ca's responder port).
func (p *PKI) IssueLeaf(tb testing.TB, ca *CA, name, host string) (*x509.Certificate, string) {
	tb.Helper()
	key, csr, out := filepath.Join(p.Dir, name+".key"), filepath.Join(p.Dir, name+".csr"), filepath.Join(p.Dir, name+".pem")
	Openssl(tb, p.Dir, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", key, "-out", csr, "-subj", "/CN="+host)
	ext := "basicConstraints = critical,CA:false\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n" +
		"subjectAltName = DNS:" + host + "\nauthorityKeyIdentifier = keyid:always\n" +
		"crlDistributionPoints = URI:" + p.URL(ca.Name+".crl") + "\n" +
		fmt.Sprintf("authorityInfoAccess = OCSP;URI:http://127.0.0.1:%d\n", ca.OCSPPort)
	p.sign(tb, ca, csr, out, ext, "30")
	return ReadCert(tb, out), out
}

func (p *PKI) sign(tb testing.TB, parent *CA, csr, out, ext, days string) {
	tb.Helper()
	extFile := out + ".ext"
	if err := os.WriteFile(extFile, []byte("[ v3 ]\n"+ext), 0o644); err != nil {
		tb.Fatal(err)
	}
	Openssl(tb, p.Dir, "ca", "-batch", "-notext", "-config", filepath.Join(parent.Dir, "openssl.cnf"),
		"-extfile", extFile, "-extensions", "v3", "-days", days, "-in", csr, "-out", out)
}

// Revoke revokes the certificate in file (PEM) in ca's database.
func (p *PKI) Revoke(tb testing.TB, ca *CA, file string) {
	tb.Helper()
	Openssl(tb, p.Dir, "ca", "-config", filepath.Join(ca.Dir, "openssl.cnf"), "-revoke", file, "-crl_reason", "keyCompromise")
}

// GenCRL signs ca's CRL with `openssl ca -gencrl` and extra options
// (-crldays 7, -crl_lastupdate …) and publishes it in DER as
// WWW/<name>.crl.
func (p *PKI) GenCRL(tb testing.TB, ca *CA, extra ...string) {
	tb.Helper()
	pemFile := filepath.Join(p.Dir, ca.Name+".crl.pem")
	args := append([]string{"ca", "-gencrl", "-config", filepath.Join(ca.Dir, "openssl.cnf"), "-out", pemFile}, extra...)
	Openssl(tb, p.Dir, args...)
	Openssl(tb, p.Dir, "crl", "-in", pemFile, "-outform", "DER", "-out", filepath.Join(p.WWW, ca.Name+".crl"))
}

// StartResponder runs `openssl ocsp` for the certificates ca issued, on
// ca.OCSPPort, signing with ca's own key, until the test ends. It
// returns once the responder accepts connections.
func (p *PKI) StartResponder(tb testing.TB, ca *CA) {
	tb.Helper()
	cmd := exec.Command("openssl", "ocsp", "-index", filepath.Join(ca.Dir, "index.txt"), "-port", strconv.Itoa(ca.OCSPPort),
		"-rsigner", ca.CertFile, "-rkey", ca.KeyFile, "-CA", ca.CertFile, "-ndays", "1")
	cmd.Dir = p.Dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stderr := &lockedWriter{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	accepted := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := false
		for sc.Scan() {
			if !ok && strings.HasPrefix(sc.Text(), "ACCEPT ") {
				ok = true
				accepted <- true
			}
		}
		if !ok {
			accepted <- false
		}
	}()
	select {
	case ok := <-accepted:
		if !ok {
			tb.Fatalf("openssl ocsp on port %d exited: %s", ca.OCSPPort, stderr.String())
		}
	case <-time.After(10 * time.Second):
		tb.Fatalf("openssl ocsp on port %d did not start: %s", ca.OCSPPort, stderr.String())
	}
}

// lockedWriter collects a responder's stderr for error messages.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// SignPolicy signs, with a fresh test signer, a valid policy of serial
// whose anchors are certs (roles derived), as the collector serves it.
func SignPolicy(tb testing.TB, serial int64, certs ...*x509.Certificate) []byte {
	tb.Helper()
	var anchors []map[string]any
	for _, c := range certs {
		anchors = append(anchors, map[string]any{"pem": string(testpki.PEM(c))})
	}
	doc, err := json.Marshal(map[string]any{"serial": serial, "anchors": anchors})
	if err != nil {
		tb.Fatal(err)
	}
	signer, key := testpki.SelfSigned(tb, "Test Policy Signer")
	blob, err := policy.Sign(doc, signer, key)
	if err != nil {
		tb.Fatal(err)
	}
	return blob
}
