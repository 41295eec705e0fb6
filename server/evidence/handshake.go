package evidence

import (
	"strconv"
	"strings"
)

// HandshakeKind says why a client's TLS handshake with the interception
// proxy failed. Only KindCertificate is evidence that the client does not
// trust the organization's CA: a client that offers only TLS 1.0, or one
// that went away mid-handshake, may trust it perfectly well.
type HandshakeKind string

// Handshake failure kinds.
const (
	// KindCertificate: the client refused the proxy's certificate with a
	// certificate alert (unknown_ca, bad_certificate, certificate_unknown…).
	KindCertificate HandshakeKind = "certificate"
	// KindProtocol: no protocol version, cipher suite or signature
	// algorithm in common (an old client), or not TLS at all.
	KindProtocol HandshakeKind = "protocol"
	// KindTimeout: the client went away or timed out before the
	// handshake finished.
	KindTimeout HandshakeKind = "timeout"
	// KindUnknown: the handshake failed and the log does not say why
	// (Squid 5's cache.log), or the reason fits none of the above.
	KindUnknown HandshakeKind = "unknown"
)

// The Evidence text of a handshake failure starts with the phrase of its
// kind; KindOf reads the kind back from stored text.
const (
	// EvidenceRejectedCA starts the Evidence of every observation showing
	// a client that refused the interception certificate.
	EvidenceRejectedCA      = "rejected the interception certificate"
	EvidenceProtocol        = "TLS protocol or cipher mismatch with the proxy"
	EvidenceTimeout         = "TLS handshake with the proxy not completed"
	EvidenceHandshakeFailed = "TLS handshake with the proxy failed"
)

// KindOf returns the handshake failure kind an Evidence text records, or
// "" when the text is not about a failed handshake with the proxy.
func KindOf(evidence string) HandshakeKind {
	switch {
	case strings.HasPrefix(evidence, EvidenceRejectedCA):
		return KindCertificate
	case strings.HasPrefix(evidence, EvidenceProtocol):
		return KindProtocol
	case strings.HasPrefix(evidence, EvidenceTimeout):
		return KindTimeout
	case strings.HasPrefix(evidence, EvidenceHandshakeFailed):
		return KindUnknown
	}
	return ""
}

// handshakeEvidence words the evidence of a failed handshake: the phrase
// of its kind, the reason, and what Squid logged.
func handshakeEvidence(kind HandshakeKind, reason, squid string) string {
	phrase := EvidenceHandshakeFailed
	switch kind {
	case KindCertificate:
		phrase = EvidenceRejectedCA
	case KindProtocol:
		phrase = EvidenceProtocol
	case KindTimeout:
		phrase = EvidenceTimeout
	}
	s := phrase + ": " + reason
	if squid != "" {
		s += " (squid: " + sanitize(squid, 200) + ")"
	}
	return s
}

// ClassifySquidTLS tells from what Squid logged about a failed TLS accept
// — an error detail such as "SQUID_TLS_ERR_ACCEPT+TLS_LIB_ERR=A000418+
// TLS_IO_ERR=1", an error code such as "ERR_CLIENT_GONE", or an OpenSSL
// error string "error:14094418:SSL routines:…" — what kind of failure it
// was, and a short reason ("client alert unknown ca").
func ClassifySquidTLS(detail string) (HandshakeKind, string) {
	if code, ok := libError(detail); ok {
		return classifyReason(code & 0xfff)
	}
	switch {
	case strings.Contains(detail, "ERR_CLIENT_GONE"), strings.Contains(detail, "ERR_READ_TIMEOUT"),
		strings.Contains(detail, "ERR_LIFETIME_EXP"), strings.Contains(detail, "ERR_REQUEST_START_TIMEOUT"):
		return KindTimeout, "the client went away or timed out before the handshake finished"
	case strings.Contains(detail, "TLS_IO_ERR=5"), strings.Contains(detail, "TLS_IO_ERR=6"):
		// SSL_ERROR_SYSCALL / SSL_ERROR_ZERO_RETURN with no library
		// error: the connection closed in the middle of the handshake.
		return KindTimeout, "the client closed the connection during the handshake"
	}
	return KindUnknown, "reason not logged"
}

// libError finds the OpenSSL error code in a Squid detail
// ("TLS_LIB_ERR=A000418") or an OpenSSL error string ("error:14094418:").
func libError(detail string) (uint64, bool) {
	var hex string
	if i := strings.Index(detail, "TLS_LIB_ERR="); i >= 0 {
		hex = detail[i+len("TLS_LIB_ERR="):]
	} else if i := strings.Index(detail, "error:"); i >= 0 {
		hex = detail[i+len("error:"):]
	} else {
		return 0, false
	}
	end := 0
	for end < len(hex) && end < 16 && isHex(hex[end]) {
		end++
	}
	v, err := strconv.ParseUint(hex[:end], 16, 64)
	return v, err == nil
}

// TLS alerts (RFC 8446 §6) a client sends about the certificate it got.
var certificateAlerts = map[uint64]string{
	42: "bad certificate", 43: "unsupported certificate", 44: "certificate revoked",
	45: "certificate expired", 46: "certificate unknown", 48: "unknown ca",
}

// Alerts a client sends when it shares no protocol parameters with the
// server.
var protocolAlerts = map[uint64]string{
	40: "handshake failure", 47: "illegal parameter", 50: "decode error", 51: "decrypt error",
	70: "protocol version", 71: "insufficient security", 86: "inappropriate fallback",
	109: "missing extension", 110: "unsupported extension", 120: "no application protocol",
}

// OpenSSL reason codes (the same in 1.1 and 3.x) of a server that found no
// common version, cipher or signature algorithm, or got something that is
// not TLS.
var protocolReasons = map[uint64]string{
	118: "no suitable signature algorithm", 156: "plain HTTP sent to the TLS port",
	191: "no protocols available", 193: "no shared cipher", 258: "unsupported protocol",
	267: "wrong version number", 373: "inappropriate fallback", 396: "version too low",
}

// classifyReason sorts an OpenSSL reason code: 1000 + n is the TLS alert n
// received from the client; lower codes are the server's own findings.
func classifyReason(reason uint64) (HandshakeKind, string) {
	if reason >= 1000 && reason < 1256 {
		alert := reason - 1000
		if name, ok := certificateAlerts[alert]; ok {
			return KindCertificate, "client alert " + name
		}
		if name, ok := protocolAlerts[alert]; ok {
			return KindProtocol, "client alert " + name
		}
		if alert == 90 || alert == 0 { // user_canceled, close_notify
			return KindTimeout, "the client abandoned the handshake"
		}
		return KindUnknown, "client alert " + strconv.FormatUint(alert, 10)
	}
	if name, ok := protocolReasons[reason]; ok {
		return KindProtocol, name
	}
	if reason == 294 { // unexpected eof while reading
		return KindTimeout, "the client closed the connection during the handshake"
	}
	return KindUnknown, "TLS library reason " + strconv.FormatUint(reason, 10)
}

// SquidLogFormat is the Squid logformat whose access.log carries what
// tells handshake failures apart (field 11, %err_code/%err_detail) and
// what `anchorwatch proxy findings` reads about destinations (bump mode,
// SNI, upstream certificate errors, issuer and subject). Its first ten
// fields are Squid's native format, so every reader of the native format
// reads it too. Use it with:
//
//	logformat anchorwatch <SquidLogFormat>
//	access_log daemon:/var/log/squid/access.log anchorwatch
const SquidLogFormat = `%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt %err_code/%#err_detail %ssl::bump_mode %ssl::>sni %ssl::<cert_errors %#ssl::<cert_issuer %#ssl::<cert_subject`
