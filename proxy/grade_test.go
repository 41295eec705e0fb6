package proxy

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCipherGrade(t *testing.T) {
	for id, want := range map[uint16]Grade{
		tls.TLS_AES_128_GCM_SHA256:                     GradeA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:      GradeA,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305:     GradeA,
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:         GradeB,
		tls.TLS_RSA_WITH_AES_128_GCM_SHA256:            GradeB,
		tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA:              GradeC,
		tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA:             GradeC,
		0x0004 /* TLS_RSA_WITH_RC4_128_MD5 */ :         GradeC,
		0x003B /* TLS_RSA_WITH_NULL_SHA256 */ :         GradeF,
		0x0003 /* TLS_RSA_EXPORT_WITH_RC4_40_MD5 */ :   GradeF,
		0x0009 /* TLS_RSA_WITH_DES_CBC_SHA */ :         GradeF,
		0x0034 /* TLS_DH_anon_WITH_AES_128_CBC_SHA */ : GradeF,
	} {
		if g, why, ok := CipherGrade(id); !ok || g != want {
			t.Errorf("%s: %s (%s, known %v), want %s", CipherName(id), g, why, ok, want)
		}
	}
	for _, id := range []uint16{0x00FF, 0x5600, 0x0A0A, 0xFEFE} {
		if _, _, ok := CipherGrade(id); ok {
			t.Errorf("%s graded as a cipher", CipherName(id))
		}
	}
}

func TestGradeHello(t *testing.T) {
	modern := []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}
	for _, tt := range []struct {
		name string
		h    ClientHello
		want Grade
		why  string
	}{
		{"browser-like", ClientHello{LegacyVersion: 0x0303, Versions: []uint16{0x0304, 0x0303}, CipherSuites: modern}, GradeA, ""},
		{"prefers no forward secrecy", ClientHello{LegacyVersion: 0x0303, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}, GradeB, "prefers TLS_RSA_WITH_AES_128_GCM_SHA256"},
		{"still offers TLS 1.0", ClientHello{LegacyVersion: 0x0303, Versions: []uint16{0x0304, 0x0303, 0x0302, 0x0301}, CipherSuites: modern}, GradeB, "still offers TLS 1.0"},
		{"TLS 1.1 at most", ClientHello{LegacyVersion: 0x0302, CipherSuites: modern}, GradeB, "at most TLS 1.1"},
		{"RC4 anywhere", ClientHello{LegacyVersion: 0x0303, CipherSuites: append(append([]uint16{}, modern...), tls.TLS_RSA_WITH_RC4_128_SHA)}, GradeC, "RC4"},
		{"SSL 3.0", ClientHello{LegacyVersion: 0x0300, CipherSuites: modern}, GradeC, "SSL 3.0"},
		{"export", ClientHello{LegacyVersion: 0x0303, CipherSuites: append(append([]uint16{}, modern...), 0x0003)}, GradeF, "export"},
		{"only signalling values", ClientHello{LegacyVersion: 0x0303, CipherSuites: []uint16{0x00FF}}, GradeF, "no cipher suite"},
	} {
		g := GradeHello(&tt.h)
		if g.Grade != tt.want || !strings.Contains(strings.Join(g.Reasons, "; "), tt.why) {
			t.Errorf("%s: %s %v, want %s naming %q", tt.name, g.Grade, g.Reasons, tt.want, tt.why)
		}
	}
}

// chainFor issues a certificate for host from ca (RSA), valid from nb to na.
func chainFor(t *testing.T, host string, ca *x509.Certificate, caKey *rsa.PrivateKey, nb, na time.Time) *x509.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sign(leafTemplate([]string{host}, nb, na), ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testCA(t *testing.T, cn string) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	c, err := sign(tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func TestClassify(t *testing.T) {
	now := time.Now()
	ica, icaKey := testCA(t, "Interception CA")
	other, otherKey := testCA(t, "Squid untrusted signer")
	const host = "expired.grade.example"
	origin := chainFor(t, host, other, otherKey, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	good := chainFor(t, host, ica, icaKey, now.Add(-time.Hour), now.Add(time.Hour))
	mimicExpired := chainFor(t, host, ica, icaKey, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	untrusted := chainFor(t, host, other, otherKey, now.Add(-time.Hour), now.Add(time.Hour))
	wrongName := chainFor(t, "elsewhere.grade.example", ica, icaKey, now.Add(-time.Hour), now.Add(time.Hour))
	for _, tt := range []struct {
		name   string
		p      Probe
		ica    *x509.Certificate
		want   Outcome
		detail string
	}{
		{"CONNECT refused", Probe{ConnectStatus: 403}, ica, Blocked, "HTTP 403"},
		{"proxy unreachable", Probe{ConnectErr: "connection refused"}, ica, Blocked, "connection refused"},
		{"handshake aborted", Probe{ConnectStatus: 200, HandshakeErr: "remote error: tls: handshake failure"}, ica, Blocked, "handshake failure"},
		{"error page", Probe{ConnectStatus: 200, Chain: []*x509.Certificate{good, ica}, HTTPStatus: 503}, ica, Blocked, "HTTP 503"},
		{"re-signed as valid", Probe{ConnectStatus: 200, Chain: []*x509.Certificate{good, ica}, HTTPStatus: 200, Marker: true}, ica, Resigned, "Interception CA"},
		{"dates mimicked", Probe{ConnectStatus: 200, Chain: []*x509.Certificate{mimicExpired, ica}, HTTPStatus: 200, Marker: true}, ica, PassedThrough, "expired"},
		{"signed untrusted", Probe{ConnectStatus: 200, Chain: []*x509.Certificate{untrusted}, HTTPStatus: 200, Marker: true}, ica, PassedThrough, "unknown authority"},
		{"name mimicked", Probe{ConnectStatus: 200, Chain: []*x509.Certificate{wrongName, ica}, HTTPStatus: 200, Marker: true}, ica, PassedThrough, "elsewhere"},
		{"spliced", Probe{ConnectStatus: 200, Chain: []*x509.Certificate{origin, other}, HTTPStatus: 200, Marker: true}, ica, NotIntercepted, "unmodified"},
		{"interception CA unknown", Probe{ConnectStatus: 200, Chain: []*x509.Certificate{good, ica}, HTTPStatus: 200, Marker: true}, nil, PassedThrough, "not known"},
		{"not run", Probe{NotRun: "openssl missing"}, ica, NotRun, "openssl"},
	} {
		got, detail := Classify(tt.p, host, origin, tt.ica, now)
		if got != tt.want || !strings.Contains(detail, tt.detail) {
			t.Errorf("%s: %s (%s), want %s naming %q", tt.name, got, detail, tt.want, tt.detail)
		}
	}
}

func TestJudgeAndFinish(t *testing.T) {
	bad, _ := CheckByID(CheckSelfSigned)
	crl, _ := CheckByID(CheckRevokedCRL)
	valid, _ := CheckByID(CheckValid)
	modern, _ := CheckByID(CheckModernRoot)
	for _, tt := range []struct {
		c    Check
		o    Outcome
		pass bool
	}{
		{bad, Blocked, true}, {bad, PassedThrough, true}, {bad, Resigned, false}, {bad, NotIntercepted, true}, {bad, NotRun, true},
		{modern, Resigned, true}, {modern, Blocked, false}, {modern, PassedThrough, false},
	} {
		if got := Judge(tt.c, tt.o); got != tt.pass {
			t.Errorf("%s %s: pass %v", tt.c.ID, tt.o, got)
		}
	}
	r := &Report{Results: []Result{
		{Check: valid, Outcome: Resigned}, {Check: crl, Outcome: Resigned}, {Check: bad, Outcome: Resigned}, {Check: modern, Outcome: Blocked},
	}, Upstream: &Upstream{HelloGrade: HelloGrade{Grade: GradeB}}}
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	if r.Grade != GradeF || strings.Join(r.Failing, ",") != "self-signed,revoked-crl,modern-root" {
		t.Errorf("grade %s failing %v, want F with the F check first", r.Grade, r.Failing)
	}
	if r.Results[2].Advice == "" || r.Results[2].Grade != GradeF || r.Results[0].Grade != 0 {
		t.Errorf("results %+v", r.Results)
	}
	r.Results = r.Results[:2]
	r.Results[1].Outcome = Blocked
	if err := r.Finish(); err != nil || r.Grade != GradeB {
		t.Errorf("only the upstream hello is B: grade %s, %v", r.Grade, err)
	}
	r.Results[0].Outcome = Blocked
	if err := r.Finish(); !errors.Is(err, ErrBaseline) || r.Grade != 0 || !strings.Contains(err.Error(), "roots.pem") {
		t.Errorf("baseline blocked: grade %s, error %v", r.Grade, err)
	}
}
