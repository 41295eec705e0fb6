package proxy

import (
	"encoding/base64"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/crypto/ocsp"
)

// maxOCSPRequest bounds an OCSP request body.
const maxOCSPRequest = 16 << 10

// startService serves the grading CA's CRL and OCSP answers on the
// connections the router finds are not TLS.
func (og *Origins) startService() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /crl/grading-ca.crl", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Write(og.crl)
	})
	mux.HandleFunc("POST /ocsp", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxOCSPRequest+1))
		if err != nil || len(body) > maxOCSPRequest {
			http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
			return
		}
		og.answerOCSP(w, body)
	})
	mux.HandleFunc("GET /ocsp/{req...}", func(w http.ResponseWriter, r *http.Request) {
		raw, err := url.PathUnescape(r.PathValue("req"))
		if err != nil || len(raw) > maxOCSPRequest {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		der, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		og.answerOCSP(w, der)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: helloTimeout, ErrorLog: discardLog()}
	og.servers = append(og.servers, srv)
	l := &connListener{ch: og.httpConn, addr: og.ln.Addr(), done: make(chan struct{})}
	og.serviceDone = l.done
	og.wg.Add(1)
	go func() { defer og.wg.Done(); srv.Serve(l) }()
}

// answerOCSP answers for certificates of the grading CA: revoked for the
// revoked-ocsp origin, good for the others it issued, unknown otherwise.
func (og *Origins) answerOCSP(w http.ResponseWriter, der []byte) {
	req, err := ocsp.ParseRequest(der)
	if err != nil {
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(ocsp.MalformedRequestErrorResponse)
		return
	}
	now := time.Now()
	tmpl := ocsp.Response{Status: ocsp.Unknown, SerialNumber: req.SerialNumber, ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour)}
	switch s := req.SerialNumber.String(); {
	case og.rev.ocspRevoked[s]:
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, now.Add(-time.Hour), ocsp.KeyCompromise
	case og.rev.issued[s]:
		tmpl.Status = ocsp.Good
	}
	resp, err := ocsp.CreateResponse(og.pki.CA, og.pki.CA, tmpl, og.pki.CAKey)
	if err != nil {
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(ocsp.InternalErrorErrorResponse)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Write(resp)
}

// serveHTTP hands a non-TLS connection to the service.
func (og *Origins) serveHTTP(c net.Conn) {
	select {
	case og.httpConn <- c:
	case <-og.serviceDone:
		c.Close()
	}
}

// connListener is a net.Listener fed connections through a channel.
type connListener struct {
	ch   chan net.Conn
	addr net.Addr
	done chan struct{}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		c.SetDeadline(time.Time{})
		c.SetDeadline(time.Now().Add(connLifetime))
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// discardLog keeps net/http's own error logging (a proxy hanging up
// mid-handshake) out of the grader's output.
func discardLog() *log.Logger {
	return log.New(io.Discard, "", 0)
}
