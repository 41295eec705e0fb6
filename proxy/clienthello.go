package proxy

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
)

// ClientHello is what a TLS client offers: here, what the interception
// proxy offers the origins it connects to upstream.
type ClientHello struct {
	// LegacyVersion is the ClientHello's version field (TLS 1.2 for every
	// TLS 1.3 client; the highest version for older ones).
	LegacyVersion uint16
	// Versions lists the supported_versions extension (TLS 1.3 clients),
	// GREASE values removed; empty when the extension is absent.
	Versions []uint16
	// CipherSuites in the client's order of preference, GREASE removed.
	CipherSuites []uint16
	// ServerName is the SNI host name, "" when none was sent.
	ServerName string
}

// MaxVersion is the highest protocol version offered.
func (h *ClientHello) MaxVersion() uint16 {
	if len(h.Versions) == 0 {
		return h.LegacyVersion
	}
	hi := uint16(0)
	for _, v := range h.Versions {
		hi = max(hi, v)
	}
	return hi
}

// MinVersion is the lowest protocol version offered, as far as the hello
// tells: without supported_versions only the highest is known.
func (h *ClientHello) MinVersion() uint16 {
	if len(h.Versions) == 0 {
		return h.LegacyVersion
	}
	lo := uint16(0xffff)
	for _, v := range h.Versions {
		lo = min(lo, v)
	}
	return lo
}

// Bounds of a ClientHello read from the network.
const (
	maxHelloBytes   = 64 << 10 // handshake message
	recordHeaderLen = 5
)

// ErrNotTLS is returned by ReadClientHello for a stream that does not
// start with a TLS handshake record.
var ErrNotTLS = errors.New("not a TLS handshake")

// ReadClientHello reads TLS records from r until it holds a complete
// ClientHello (which may span several records) and parses it. It returns
// every byte it read, so the stream can be replayed to a backend.
func ReadClientHello(r io.Reader) (*ClientHello, []byte, error) {
	var raw, msg []byte
	for {
		hdr := make([]byte, recordHeaderLen)
		if _, err := io.ReadFull(r, hdr); err != nil {
			return nil, raw, fmt.Errorf("reading a TLS record header: %w", err)
		}
		raw = append(raw, hdr...)
		if hdr[0] != 0x16 || hdr[1] != 3 {
			return nil, raw, ErrNotTLS
		}
		n := int(hdr[3])<<8 | int(hdr[4])
		if n == 0 || n > 1<<14+2048 || len(msg)+n > maxHelloBytes {
			return nil, raw, fmt.Errorf("%w: record of %d bytes", ErrNotTLS, n)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, raw, fmt.Errorf("reading a TLS record: %w", err)
		}
		raw = append(raw, body...)
		msg = append(msg, body...)
		if len(msg) >= 4 {
			want := 4 + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
			if want > maxHelloBytes {
				return nil, raw, fmt.Errorf("%w: handshake message of %d bytes", ErrNotTLS, want)
			}
			if len(msg) >= want {
				h, err := ParseClientHello(msg[:want])
				return h, raw, err
			}
		}
	}
}

// ParseClientHello parses a ClientHello handshake message (type, length,
// body: RFC 8446 §4.1.2, the same layout back to SSL 3.0).
func ParseClientHello(msg []byte) (*ClientHello, error) {
	s := cryptobyte.String(msg)
	var typ uint8
	var body cryptobyte.String
	if !s.ReadUint8(&typ) || typ != 1 || !s.ReadUint24LengthPrefixed(&body) || !s.Empty() {
		return nil, fmt.Errorf("%w: not a ClientHello message", ErrNotTLS)
	}
	h := &ClientHello{}
	var random, sessionID, suites, compression cryptobyte.String
	if !body.ReadUint16(&h.LegacyVersion) || !body.ReadBytes((*[]byte)(&random), 32) ||
		!body.ReadUint8LengthPrefixed(&sessionID) || !body.ReadUint16LengthPrefixed(&suites) ||
		!body.ReadUint8LengthPrefixed(&compression) {
		return nil, errors.New("malformed ClientHello")
	}
	for !suites.Empty() {
		var cs uint16
		if !suites.ReadUint16(&cs) {
			return nil, errors.New("malformed ClientHello: odd cipher suite list")
		}
		if !isGREASE(cs) {
			h.CipherSuites = append(h.CipherSuites, cs)
		}
	}
	if body.Empty() { // no extensions (SSL 3.0, very old TLS)
		return h, nil
	}
	var exts cryptobyte.String
	if !body.ReadUint16LengthPrefixed(&exts) || !body.Empty() {
		return nil, errors.New("malformed ClientHello: extensions")
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return nil, errors.New("malformed ClientHello: extension")
		}
		var err error
		switch typ {
		case 0: // server_name
			h.ServerName, err = parseSNI(data)
		case 43: // supported_versions
			h.Versions, err = parseVersions(data)
		}
		if err != nil {
			return nil, err
		}
	}
	return h, nil
}

func parseSNI(data cryptobyte.String) (string, error) {
	var list cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&list) || !data.Empty() {
		return "", errors.New("malformed server_name extension")
	}
	for !list.Empty() {
		var typ uint8
		var name cryptobyte.String
		if !list.ReadUint8(&typ) || !list.ReadUint16LengthPrefixed(&name) {
			return "", errors.New("malformed server_name extension")
		}
		if typ == 0 {
			if len(name) == 0 || len(name) > 253 {
				return "", errors.New("malformed server_name extension: bad host name length")
			}
			return string(name), nil
		}
	}
	return "", nil
}

func parseVersions(data cryptobyte.String) ([]uint16, error) {
	var list cryptobyte.String
	if !data.ReadUint8LengthPrefixed(&list) || !data.Empty() {
		return nil, errors.New("malformed supported_versions extension")
	}
	var out []uint16
	for !list.Empty() {
		var v uint16
		if !list.ReadUint16(&v) {
			return nil, errors.New("malformed supported_versions extension")
		}
		if !isGREASE(v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// isGREASE reports the reserved values of RFC 8701 (0x0A0A, 0x1A1A, …).
func isGREASE(v uint16) bool {
	return v&0x0f0f == 0x0a0a && v>>8 == v&0xff
}
