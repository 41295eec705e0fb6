package testpki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestChains(t *testing.T) {
	root := NewCA(t, "Test Root")
	inter := root.Intermediate(t, "Test Intermediate")
	for _, tt := range []struct {
		name    string
		issuer  *CA
		hosts   []string
		inters  []*x509.Certificate
		verify  string
		wantErr bool
	}{
		{"root leaf DNS", root, []string{"intranet.example"}, nil, "intranet.example", false},
		{"root leaf IP", root, []string{"127.0.0.1"}, nil, "127.0.0.1", false},
		{"two names", root, []string{"a.example", "b.example"}, nil, "b.example", false},
		{"via intermediate", inter, []string{"x.example"}, []*x509.Certificate{inter.Cert}, "x.example", false},
		{"intermediate missing", inter, []string{"x.example"}, nil, "x.example", true},
		{"wrong name", root, []string{"a.example"}, nil, "c.example", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			leaf := tt.issuer.Leaf(t, tt.hosts...)
			if leaf.Leaf == nil || !bytes.Equal(leaf.Leaf.Raw, leaf.Certificate[0]) {
				t.Fatal("Leaf does not carry its parsed certificate")
			}
			roots, inters := x509.NewCertPool(), x509.NewCertPool()
			roots.AddCert(root.Cert)
			for _, c := range tt.inters {
				inters.AddCert(c)
			}
			_, err := leaf.Leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: tt.verify})
			if (err != nil) != tt.wantErr {
				t.Fatalf("verify: %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	past := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	old := NewCA(t, "Old", Valid(past, past.Add(time.Hour)))
	if !old.Cert.NotBefore.Equal(past) || !old.Cert.NotAfter.Equal(past.Add(time.Hour)) {
		t.Errorf("Valid: %v..%v", old.Cert.NotBefore, old.Cert.NotAfter)
	}
	if l := old.Leaf(t, "x.example").Leaf; l.NotAfter.After(old.Cert.NotAfter) {
		t.Errorf("leaf outlives its CA: %v > %v", l.NotAfter, old.Cert.NotAfter)
	}
	a := NewCA(t, "Same Key")
	b := NewCA(t, "Same Key", Key(a.Key))
	if !bytes.Equal(a.Cert.RawSubjectPublicKeyInfo, b.Cert.RawSubjectPublicKeyInfo) || a.Cert.SerialNumber.Cmp(b.Cert.SerialNumber) == 0 {
		t.Error("Key: want the same SPKI under a new serial")
	}
	if _, ok := a.Key.(*ecdsa.PrivateKey); !ok {
		t.Errorf("default key %T, want ECDSA", a.Key)
	}
	if r := NewCA(t, "RSA", RSA(2048)); r.Cert.PublicKeyAlgorithm != x509.RSA {
		t.Errorf("RSA: %v", r.Cert.PublicKeyAlgorithm)
	} else if _, ok := r.Key.(*rsa.PrivateKey); !ok {
		t.Errorf("RSA key %T", r.Key)
	}
	e := NewCA(t, "Client only", ExtKeyUsage(x509.ExtKeyUsageClientAuth))
	if len(e.Cert.ExtKeyUsage) != 1 || e.Cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("ExtKeyUsage: %v", e.Cert.ExtKeyUsage)
	}
	if !a.Cert.IsCA || a.Cert.KeyUsage&x509.KeyUsageCertSign == 0 || a.Cert.Subject.String() != "CN=Same Key,O="+Org {
		t.Errorf("root: IsCA %v KeyUsage %v subject %s", a.Cert.IsCA, a.Cert.KeyUsage, a.Cert.Subject)
	}
	s, key := SelfSigned(t, "Policy Signer")
	if s.IsCA || !s.BasicConstraintsValid || key == nil || s.CheckSignature(s.SignatureAlgorithm, s.RawTBSCertificate, s.Signature) != nil {
		t.Errorf("SelfSigned: IsCA %v, basic constraints %v", s.IsCA, s.BasicConstraintsValid)
	}
	if _, err := New("Too small", RSA(512)); err == nil || !strings.Contains(err.Error(), "testpki") {
		t.Errorf("New with a 512-bit RSA key: %v, want an error", err)
	}
}

func TestWrite(t *testing.T) {
	a, b := NewCA(t, "A"), NewCA(t, "B")
	dir := filepath.Join(t.TempDir(), "sub", "dir")
	p := WritePEM(t, filepath.Join(dir, "ab.pem"), a.Cert, b.Cert)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for blk, rest := pem.Decode(data); blk != nil; blk, rest = pem.Decode(rest) {
		got = append(got, blk.Bytes)
	}
	if len(got) != 2 || !bytes.Equal(got[0], a.Cert.Raw) || !bytes.Equal(got[1], b.Cert.Raw) {
		t.Fatalf("WritePEM wrote %d certificates", len(got))
	}
	d := WriteDER(t, filepath.Join(dir, "a.der"), a.Cert)
	if data, _ := os.ReadFile(d); !bytes.Equal(data, a.Cert.Raw) {
		t.Fatal("WriteDER")
	}
}

func TestServeTLS(t *testing.T) {
	ca := NewCA(t, "TLS CA")
	addr, results := ServeTLS(t, ca.Leaf(t, "127.0.0.1"))
	for _, tt := range []struct {
		name  string
		roots *CA
		ok    bool
	}{
		{"trusted", ca, true},
		{"unknown issuer", NewCA(t, "Other CA"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool := x509.NewCertPool()
			pool.AddCert(tt.roots.Cert)
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
			if (err == nil) != tt.ok {
				t.Fatalf("dial: %v, want ok %v", err, tt.ok)
			}
			if err == nil {
				line := make([]byte, 32)
				n, _ := c.Read(line)
				c.Close()
				if string(line[:n]) != "anchorwatch-ok\n" {
					t.Errorf("server said %q", line[:n])
				}
			}
			if herr := <-results; (herr == nil) != tt.ok {
				t.Errorf("server saw %v, want ok %v", herr, tt.ok)
			}
		})
	}
}
