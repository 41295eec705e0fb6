package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/anchorwatch/anchorwatch/stores"
)

// ErrCertificate is matched (errors.Is) by every refusal of the
// collector's certificate: a pin that does not hold, a chain that does
// not verify against the CA file or the system roots. Trying again cannot
// help; the configuration or the network path is wrong.
var ErrCertificate = errors.New("the collector's certificate is not accepted")

// ErrPinMismatch is matched (errors.Is) by a PinError: the collector
// presented a certificate other than the pinned one (or one not issued
// under it for the host dialed) — a wrong pin, or a man in the middle.
var ErrPinMismatch = errors.New("the collector's certificate does not match the pinned fingerprint")

// PinError says how the certificate presented fails the pin.
type PinError struct {
	Pin  string // the pinned fingerprint, lowercase hex
	Leaf string // the SHA-256 of the leaf presented, lowercase hex
	Host string // the host dialed
	// Err, when set, is why the leaf does not verify up to the pinned
	// certificate found in its chain.
	Err error
}

func (e *PinError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("collector certificate is not issued under the pinned certificate %s… for %s: %v", e.Pin[:16], e.Host, e.Err)
	}
	return fmt.Sprintf("collector certificate %s… does not match the pinned fingerprint %s…", e.Leaf[:16], e.Pin[:16])
}

func (e *PinError) Unwrap() error { return e.Err }

// Is makes a PinError match ErrPinMismatch and ErrCertificate.
func (e *PinError) Is(target error) bool { return target == ErrPinMismatch || target == ErrCertificate }

// certError marks a failure to verify the collector's chain (CA file or
// system roots) as ErrCertificate, its message unchanged.
type certError struct{ err error }

func (e *certError) Error() string        { return e.err.Error() }
func (e *certError) Unwrap() error        { return e.err }
func (e *certError) Is(target error) bool { return target == ErrCertificate }

// markCertError wraps err as a certError when it is a refusal of the
// collector's certificate by crypto/tls itself.
func markCertError(err error) error {
	var cv *tls.CertificateVerificationError
	if err != nil && !errors.Is(err, ErrCertificate) && errors.As(err, &cv) {
		return &certError{err}
	}
	return err
}

// verifyPinned checks the server certificate of cs against the SHA-256
// fingerprint fp (lowercase hex): the leaf itself, or a certificate of the
// chain that the leaf verifies up to for host. With roots set (a CA file
// given as well) the chain must also verify against them.
func verifyPinned(cs tls.ConnectionState, host, fp string, roots *x509.CertPool) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return &certError{errors.New("the collector sent no certificate")}
	}
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Intermediates: inter, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if roots != nil {
		o := opts
		o.Roots = roots
		if _, err := leaf.Verify(o); err != nil {
			return &certError{fmt.Errorf("collector certificate: %w", err)}
		}
	}
	pe := &PinError{Pin: fp, Leaf: stores.SHA256(leaf), Host: host}
	if pe.Leaf == fp {
		return nil
	}
	for _, c := range certs[1:] {
		if stores.SHA256(c) != fp {
			continue
		}
		pinned := x509.NewCertPool()
		pinned.AddCert(c)
		opts.Roots = pinned
		if _, err := leaf.Verify(opts); err != nil {
			pe.Err = err
			return pe
		}
		return nil
	}
	return pe
}
