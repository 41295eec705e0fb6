package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/anchorwatch/anchorwatch/pki/pkitest"
	"github.com/anchorwatch/anchorwatch/server/db"
)

// benchPKI is a root and n intermediates, each naming its own CDP and
// OCSP URL on one local server that serves the root's CRL and answers
// good for every serial; it counts what it served.
type benchPKI struct {
	srv     *httptest.Server
	cas     []*x509.Certificate
	fetches atomic.Int64
}

func newBenchPKI(b *testing.B, n int) *benchPKI {
	b.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Bench Root"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(10 * 365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	root, _ := x509.ParseCertificate(der)
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(7 * 24 * time.Hour)}, root, key)
	if err != nil {
		b.Fatal(err)
	}
	p := &benchPKI{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		if strings.HasSuffix(r.URL.Path, ".crl") {
			w.Write(crl)
			return
		}
		var reqDER []byte
		if r.Method == http.MethodPost {
			reqDER, _ = io.ReadAll(io.LimitReader(r.Body, 4096))
		} else {
			enc, _ := url.PathUnescape(r.URL.EscapedPath()[strings.LastIndexByte(r.URL.EscapedPath(), '/')+1:])
			reqDER, _ = base64.StdEncoding.DecodeString(enc)
		}
		req, err := ocsp.ParseRequest(reqDER)
		if err != nil {
			w.Write(ocsp.MalformedRequestErrorResponse)
			return
		}
		resp, err := ocsp.CreateResponse(root, root, ocsp.Response{Status: ocsp.Good, SerialNumber: req.SerialNumber,
			ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour)}, key)
		if err != nil {
			w.Write(ocsp.InternalErrorErrorResponse)
			return
		}
		w.Write(resp)
	}))
	b.Cleanup(p.srv.Close)
	p.cas = append(p.cas, root)
	for i := 0; i < n; i++ {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		t := &x509.Certificate{SerialNumber: big.NewInt(int64(100 + i)), Subject: pkix.Name{CommonName: fmt.Sprintf("Bench Inspection CA %d", i)},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(3 * 365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
			MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			CRLDistributionPoints: []string{fmt.Sprintf("%s/ca%d/root.crl", p.srv.URL, i)}, OCSPServer: []string{fmt.Sprintf("%s/ocsp%d", p.srv.URL, i)}}
		der, err := x509.CreateCertificate(rand.Reader, t, root, &k.PublicKey, key)
		if err != nil {
			b.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		p.cas = append(p.cas, c)
	}
	return p
}

// BenchmarkIngestPKIProbe measures report ingest (reports/s, the real
// collector in a child process driven by loadgen, as BenchmarkSustainedLoad)
// without the PKI probe, and with it checking a policy of 100 CAs (each
// with its own CDP and OCSP responder on loopback) once a second: a
// hundred times the shipped 15-minute schedule.
func BenchmarkIngestPKIProbe(b *testing.B) {
	for _, tc := range []struct {
		name     string
		interval string
	}{{"without-probe", "-1s"}, {"probe-100-CAs", "1s"}} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				dbURL := benchDB(b, "sqlite", b.TempDir())
				p := newBenchPKI(b, 100)
				st, err := db.Open(context.Background(), dbURL)
				if err != nil {
					b.Fatal(err)
				}
				if err := st.PutPolicy(context.Background(), 1, pkitest.SignPolicy(b, 1, p.cas...)); err != nil {
					b.Fatal(err)
				}
				st.Close()
				b.Setenv("AW_BENCH_PKI_INTERVAL", tc.interval)
				start := time.Now()
				runLoad(b, "collector", dbURL)
				b.ReportMetric(float64(p.fetches.Load())/time.Since(start).Seconds(), "probe_fetches/s")
			}
		})
	}
}
