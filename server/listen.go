package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// The production HTTP server of the collector: TLS by default, every
// phase of a connection bounded, graceful shutdown. `collector serve` is
// a thin caller of ListenAndServe.

// Timeouts and bounds of the collector's HTTP server. WriteTimeout leaves
// room for a policy wait (server/policywait.go) and a large CSV export.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 60 * time.Second
	WriteTimeout      = 5 * time.Minute
	IdleTimeout       = 2 * time.Minute
	MaxHeaderBytes    = 64 << 10
	// ShutdownTimeout bounds a graceful shutdown: requests under way get
	// this long to finish.
	ShutdownTimeout = 30 * time.Second
)

// ListenConfig says how the collector listens.
type ListenConfig struct {
	// Addr is the address to listen on, e.g. ":8443".
	Addr string
	// Handler serves the requests: the collector (*Server), whose policy
	// waits are drained at once when the shutdown starts (see Drain).
	Handler http.Handler
	// CertFile and KeyFile are the TLS certificate and key (PEM). Both
	// empty: a self-signed pair in SelfSignedDir, made on first use
	// (EnsureSelfSigned) with SelfSignedHosts as extra names.
	CertFile, KeyFile string
	SelfSignedDir     string
	SelfSignedHosts   []string
	// Insecure serves plain HTTP (local tests only): node keys and tokens
	// travel in clear.
	Insecure bool
	// Logger receives the server's errors (default slog.Default()).
	Logger *slog.Logger
	// Ready, when set, is called once the listener is open, before the
	// first request is served.
	Ready func(Listening)
}

// Listening describes a collector that ListenAndServe has started.
type Listening struct {
	URL string // https://ADDR (http:// with Insecure)
	// SelfSigned is the self-signed certificate in use, "" when the
	// certificate was given; Created says it was made now, and
	// Fingerprint is its SHA-256 (agents pin it).
	SelfSigned  string
	Created     bool
	Fingerprint string
}

// TLSError is a TLS certificate or key that cannot be used (a usage error
// on the command line).
type TLSError struct{ Err error }

func (e *TLSError) Error() string { return e.Err.Error() }
func (e *TLSError) Unwrap() error { return e.Err }

// ListenAndServe serves cfg.Handler on cfg.Addr until ctx ends, then shuts
// down gracefully: no new connections, policy waits answered at once,
// requests under way given ShutdownTimeout. It returns nil after a clean
// shutdown, the error of the listener or the server otherwise.
func ListenAndServe(ctx context.Context, cfg ListenConfig) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Insecure && (cfg.CertFile != "" || cfg.KeyFile != "") {
		return errors.New("plain HTTP and a TLS certificate exclude each other")
	}
	hs := newHTTPServer(cfg.Handler, log)
	var ready Listening
	if !cfg.Insecure {
		var err error
		if ready, hs.TLSConfig, err = listenTLS(cfg); err != nil {
			return err
		}
	} else {
		log.Warn("serving plain HTTP (--insecure-http): node keys and tokens travel in clear; for local tests only")
	}
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	ready.URL = "https://" + l.Addr().String()
	if cfg.Insecure {
		ready.URL = "http://" + l.Addr().String()
	}
	if cfg.Ready != nil {
		cfg.Ready(ready)
	}
	errc := make(chan error, 1)
	go func() {
		if cfg.Insecure {
			errc <- hs.Serve(l)
		} else {
			errc <- hs.ServeTLS(l, "", "")
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	return hs.Shutdown(sctx)
}

// newHTTPServer is the collector's http.Server for h, with its timeouts
// and header bound; a *Server's policy waits end when the shutdown starts.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		WriteTimeout: WriteTimeout, IdleTimeout: IdleTimeout, MaxHeaderBytes: MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	if d, ok := h.(interface{ Drain() }); ok {
		hs.RegisterOnShutdown(d.Drain) // agents' policy waits end at once
	}
	return hs
}

// listenTLS loads the certificate cfg names, or the self-signed one of
// its data directory (made on first use).
func listenTLS(cfg ListenConfig) (Listening, *tls.Config, error) {
	var ready Listening
	certFile, keyFile := cfg.CertFile, cfg.KeyFile
	if certFile == "" && keyFile == "" {
		var err error
		certFile, keyFile, ready.Created, err = EnsureSelfSigned(cfg.SelfSignedDir, cfg.SelfSignedHosts)
		if err != nil {
			return ready, nil, err
		}
		if ready.Fingerprint, err = CertFingerprint(certFile); err != nil {
			return ready, nil, err
		}
		ready.SelfSigned = certFile
	}
	tc, err := TLSConfig(certFile, keyFile)
	if err != nil {
		return ready, nil, &TLSError{Err: err}
	}
	return ready, tc, nil
}
