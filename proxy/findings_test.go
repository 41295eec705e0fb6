package proxy

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checkFindings checks the scan of the real log of TestFindingsFromSquid
// (also kept as testdata/squid-findings-access.log).
func checkFindings(t *testing.T, f *Findings, log string) {
	t.Helper()
	fails := map[string]UpstreamFailure{}
	for _, u := range f.UpstreamFailures {
		fails[strings.SplitN(u.Host, ".", 2)[0]] = u
	}
	for id, wantErr := range map[string]string{
		CheckExpired: "X509_V_ERR_CERT_HAS_EXPIRED", CheckSelfSigned: "SELF_SIGNED", CheckUntrusted: "SELF_SIGNED_CERT_IN_CHAIN", // the origin sends its root
		CheckWrongHost: "SQUID_X509_V_ERR_DOMAIN_MISMATCH",
	} {
		u, ok := fails[id]
		if !ok || !strings.Contains(strings.Join(u.Errors, " "), wantErr) {
			t.Errorf("upstream failure of %s: %+v, want %s", id, u, wantErr)
		}
	}
	if u := fails[CheckUntrusted]; !u.OutdatedStore || u.MissingRoot != "/O=Anchorwatch proxy grading/CN=Anchorwatch untrusted root" {
		t.Errorf("untrusted root: %+v, want the missing root named", u)
	}
	if _, ok := fails[CheckValid]; ok || len(fails) != 4 {
		t.Errorf("upstream failures: %+v", f.UpstreamFailures)
	}
	if len(f.ClientCertificate) != 1 || f.ClientCertificate[0].Host != "clientcert."+DefaultDomain {
		t.Errorf("client-certificate sites: %+v\n%s", f.ClientCertificate, log)
	}
	pinned := map[string]Pinned{}
	for _, p := range f.Pinned {
		pinned[strings.SplitN(p.Host, ".", 2)[0]] = p
	}
	if p := pinned[CheckModernRoot]; p.SilentTunnels != 1 || strings.Join(p.Clients, ",") != "127.0.0.8" {
		t.Errorf("silent tunnel: %+v (all %+v)", p, f.Pinned)
	}
	if p := pinned[CheckRSAKex]; p.SilentTunnels+p.Refusals == 0 || !contains(p.Clients, "127.0.0.9") {
		t.Errorf("pinning client: %+v (all %+v)\n%s", p, f.Pinned, log)
	}
	if _, ok := pinned[CheckValid]; ok || len(pinned) != 2 {
		t.Errorf("pinned: %+v", f.Pinned)
	}
	if f.Extended == 0 || f.Skipped != 0 {
		t.Errorf("lines: %+v", f)
	}
}

// TestScanFixture scans the real Squid log kept from TestFindingsFromSquid
// (go test -run TestFindingsFromSquid -update ./proxy rewrites it), with a
// reference store holding a root of the untrusted root's name.
func TestScanFixture(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "squid-findings-access.log"))
	if err != nil {
		t.Fatal(err)
	}
	_, key := testCA(t, "x")
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "Anchorwatch untrusted root", Organization: []string{"Anchorwatch proxy grading"}},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	root, err := sign(tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ScanAccessLogs(context.Background(), []io.Reader{bytes.NewReader(data)}, []*x509.Certificate{root})
	if err != nil {
		t.Fatal(err)
	}
	checkFindings(t, f, string(data))
	for _, u := range f.UpstreamFailures {
		if u.Count != 1 {
			t.Errorf("%s: counted %d times, want once (the CONNECT, not the error page)", u.Host, u.Count)
		}
	}
	// The native format says nothing about TLS: no findings, no errors.
	var native bytes.Buffer
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		native.WriteString(strings.Join(strings.Fields(l)[:10], " ") + "\n")
	}
	f, err = ScanAccessLogs(context.Background(), []io.Reader{&native}, nil)
	if err != nil || f.Parsed != 17 || f.Extended != 0 || len(f.UpstreamFailures)+len(f.ClientCertificate)+len(f.Pinned) != 0 {
		t.Errorf("native format: %+v %v", f, err)
	}
}

func TestOneLineName(t *testing.T) {
	c, _ := testCA(t, "Test Root")
	if got := OneLineName(c.RawSubject); got != "/CN=Test Root" {
		t.Errorf("OneLineName = %q", got)
	}
	if OneLineName([]byte{0x30, 0x03, 0x01}) != "" {
		t.Error("garbage name rendered")
	}
}

func FuzzScanAccessLog(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "squid-findings-access.log"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, err := ScanAccessLogs(context.Background(), []io.Reader{bytes.NewReader(data)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if fs.Parsed+fs.Skipped > fs.Lines || fs.Extended > fs.Parsed {
			t.Fatalf("counts %+v", fs)
		}
		for _, u := range fs.UpstreamFailures {
			if u.Count < 1 || u.Last.Before(u.First) || len(u.Errors) == 0 {
				t.Fatalf("failure %+v", u)
			}
		}
	})
}
