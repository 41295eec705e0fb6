package proxy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// captureHello reads the ClientHello a client sends to a listener.
func captureHello(t *testing.T, dial func(addr string)) (*ClientHello, []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type got struct {
		h   *ClientHello
		raw []byte
		err error
	}
	ch := make(chan got, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- got{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		h, raw, err := ReadClientHello(c)
		ch <- got{h, raw, err}
	}()
	go dial(ln.Addr().String())
	select {
	case g := <-ch:
		if g.err != nil {
			t.Fatalf("ReadClientHello: %v", g.err)
		}
		return g.h, g.raw
	case <-time.After(20 * time.Second):
		t.Fatal("no ClientHello")
	}
	return nil, nil
}

func TestClientHelloFromGo(t *testing.T) {
	h, raw := captureHello(t, func(addr string) {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "valid.grade.example", MinVersion: tls.VersionTLS12})
		if err == nil {
			c.Close()
		}
	})
	if h.ServerName != "valid.grade.example" || h.LegacyVersion != tls.VersionTLS12 {
		t.Errorf("hello %+v", h)
	}
	if !slices.Equal(h.Versions, []uint16{tls.VersionTLS13, tls.VersionTLS12}) || h.MaxVersion() != tls.VersionTLS13 || h.MinVersion() != tls.VersionTLS12 {
		t.Errorf("versions %x", h.Versions)
	}
	if !slices.Contains(h.CipherSuites, tls.TLS_AES_128_GCM_SHA256) || !slices.Contains(h.CipherSuites, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) {
		t.Errorf("ciphers %x", h.CipherSuites)
	}
	if raw[0] != 0x16 || len(raw) < 100 {
		t.Errorf("raw bytes % x", raw[:min(len(raw), 8)])
	}
	if g := GradeHello(h); g.Grade != GradeA {
		t.Errorf("Go's default ClientHello graded %s: %v", g.Grade, g.Reasons)
	}
}

// TestClientHelloFromOpenSSL parses what the real openssl s_client sends:
// a TLS 1.0-only hello (no supported_versions) and the default one.
func TestClientHelloFromOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl not found: install the Debian package openssl")
	}
	run := func(args ...string) func(string) {
		return func(addr string) {
			cmd := exec.Command(openssl, append([]string{"s_client", "-connect", addr, "-servername", "old.grade.example"}, args...)...)
			cmd.Stdin = bytes.NewReader(nil)
			cmd.Run()
		}
	}
	old, _ := captureHello(t, run("-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"))
	if old.ServerName != "old.grade.example" || old.LegacyVersion != tls.VersionTLS10 || len(old.Versions) != 0 || old.MaxVersion() != tls.VersionTLS10 {
		t.Errorf("openssl -tls1 hello: %+v", old)
	}
	if g := GradeHello(old); g.Grade != GradeB || g.MaxVersion != "TLS 1.0" {
		t.Errorf("TLS 1.0-only hello graded %s (%v), want B", g.Grade, g.Reasons)
	}
	modern, _ := captureHello(t, run())
	if modern.MaxVersion() != tls.VersionTLS13 {
		t.Errorf("openssl default hello: versions %x", modern.Versions)
	}
	weak, _ := captureHello(t, run("-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256:NULL-SHA256:@SECLEVEL=0"))
	if g := GradeHello(weak); g.Grade != GradeF {
		t.Errorf("a hello offering NULL-SHA256 graded %s (%v), want F", g.Grade, g.Reasons)
	}
}

func TestReadClientHelloRejects(t *testing.T) {
	for name, in := range map[string][]byte{
		"http":         []byte("GET / HTTP/1.1\r\n\r\n"),
		"sslv2":        {0x80, 0x2e, 0x01, 0x00, 0x02},
		"empty":        {0x16, 0x03, 0x01, 0x00, 0x00},
		"huge record":  {0x16, 0x03, 0x01, 0xff, 0xff},
		"server hello": {0x16, 0x03, 0x03, 0x00, 0x08, 0x02, 0x00, 0x00, 0x04, 0x03, 0x03, 0x00, 0x00},
	} {
		if _, _, err := ReadClientHello(bytes.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if name != "server hello" && !errors.Is(err, ErrNotTLS) {
			t.Errorf("%s: %v, want ErrNotTLS", name, err)
		}
	}
}

func FuzzParseClientHello(f *testing.F) {
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, consumed, err := ReadClientHello(bytes.NewReader(data))
		if len(consumed) > len(data) {
			t.Fatalf("consumed %d of %d bytes", len(consumed), len(data))
		}
		if err != nil {
			return
		}
		if len(h.ServerName) > 253 || h.MaxVersion() < h.MinVersion() {
			t.Fatalf("hello %+v", h)
		}
		g := GradeHello(h)
		if g.Grade < GradeA || g.Grade > GradeF {
			t.Fatalf("grade %d", g.Grade)
		}
	})
}
