package system

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/anchorwatch/anchorwatch/stores"
)

// maxFile bounds every file this package reads: a full Mozilla bundle is
// about 220 KiB; a p11-kit source a few hundred KiB.
const maxFile = 32 << 20

// entry is one certificate found in a trust source or bundle: its DER and
// the line its PEM block starts on (0 for DER files).
type entry struct {
	DER  []byte
	Sum  string // lowercase hex SHA-256 of DER
	Line int
	// Distrusted is set for p11-kit objects marked "x-distrusted: true".
	Distrusted bool
	// Purposes are what a TRUSTED CERTIFICATE's trust settings trust it
	// for; nil for a plain certificate (no restriction).
	Purposes []stores.Purpose
}

func (e entry) sha256() string {
	if e.Sum != "" {
		return e.Sum
	}
	sum := sha256.Sum256(e.DER)
	return hex.EncodeToString(sum[:])
}

func newEntry(der []byte, line int, distrusted bool) entry {
	sum := sha256.Sum256(der)
	return entry{DER: der, Sum: hex.EncodeToString(sum[:]), Line: line, Distrusted: distrusted}
}

// parsed is what scanPEM found in one file.
type parsed struct {
	Certs []entry
	// PublicKeys holds the DER SubjectPublicKeyInfo of "PUBLIC KEY" blocks,
	// which p11-kit blocklists accept to distrust every certificate of a key.
	PublicKeys [][]byte
}

var (
	beginMarker = []byte("-----BEGIN ")
	endMarker   = []byte("-----END ")
)

// scanPEM walks every PEM block of data. Text between blocks is allowed
// (bundles carry "# Label" comments, p11-kit files attribute lines), but a
// block that does not decode — a BEGIN line without its END, bad base64, a
// second BEGIN before the END — is an error naming its line: a truncated or
// corrupt file is never read as a shorter valid one. CERTIFICATE and
// TRUSTED CERTIFICATE (OpenSSL's trusted format: the certificate followed by
// its trust settings) blocks yield certificates, PUBLIC KEY blocks public
// keys; other block types are an error when strict, skipped otherwise.
func scanPEM(data []byte, strict bool) (parsed, error) {
	var out parsed
	off, line, counted := 0, 1, 0
	distrusted := false
	p11 := isP11Kit(data)
	for {
		i := bytes.Index(data[off:], beginMarker)
		if i < 0 {
			return out, nil
		}
		start := off + i
		if p11 {
			distrusted = p11kitDistrusted(data, start)
		}
		line += bytes.Count(data[counted:start], []byte("\n"))
		counted = start
		j := bytes.Index(data[start+len(beginMarker):], endMarker)
		if j < 0 {
			return out, fmt.Errorf("line %d: PEM block has no END line (file truncated?)", line)
		}
		endAt := start + len(beginMarker) + j
		if k := bytes.Index(data[start+len(beginMarker):endAt], beginMarker); k >= 0 {
			return out, fmt.Errorf("line %d: PEM block has no END line before the next BEGIN (file truncated or spliced?)", line)
		}
		eol := bytes.IndexByte(data[endAt:], '\n')
		stop := len(data)
		if eol >= 0 {
			stop = endAt + eol + 1
		}
		b := decodeBlock(data[start:stop])
		if b == nil {
			return out, fmt.Errorf("line %d: PEM block does not decode (corrupt base64 or mismatched BEGIN/END lines)", line)
		}
		off = stop
		switch b.Type {
		case "CERTIFICATE", "X509 CERTIFICATE":
			out.Certs = append(out.Certs, newEntry(b.Bytes, line, distrusted))
		case "TRUSTED CERTIFICATE":
			der, err := firstElement(b.Bytes)
			if err != nil {
				return out, fmt.Errorf("line %d: TRUSTED CERTIFICATE block: %w", line, err)
			}
			e := newEntry(der, line, distrusted)
			if aux := b.Bytes[len(der):]; len(aux) > 0 {
				if e.Purposes, err = auxPurposes(aux); err != nil {
					return out, fmt.Errorf("line %d: TRUSTED CERTIFICATE block: %w", line, err)
				}
			}
			out.Certs = append(out.Certs, e)
		case "PUBLIC KEY":
			out.PublicKeys = append(out.PublicKeys, b.Bytes)
		default:
			if strict {
				return out, fmt.Errorf("line %d: PEM block of type %q where a CERTIFICATE was expected", line, b.Type)
			}
		}
	}
}

// decodeBlock decodes one PEM block (BEGIN line through END line). The
// common case — no headers, standard base64 lines — is decoded directly,
// which is several times faster than encoding/pem on a full bundle; any
// other shape goes through pem.Decode, which has the last word.
func decodeBlock(blk []byte) *pem.Block {
	slow := func() *pem.Block { b, _ := pem.Decode(blk); return b }
	nl := bytes.IndexByte(blk, '\n')
	end := bytes.LastIndex(blk, endMarker)
	if nl < 0 || end <= nl || blk[end-1] != '\n' {
		return slow()
	}
	typ, ok := bytes.CutPrefix(bytes.TrimSuffix(blk[:nl], []byte("\r")), beginMarker)
	typ, ok2 := bytes.CutSuffix(typ, []byte("-----"))
	if !ok || !ok2 || len(typ) == 0 || bytes.ContainsAny(typ, "-\r\t") {
		return slow()
	}
	after, ok := bytes.CutPrefix(blk[end+len(endMarker):], typ)
	after, ok2 = bytes.CutPrefix(after, []byte("-----"))
	if !ok || !ok2 || (len(after) != 0 && string(after) != "\n" && string(after) != "\r\n") {
		return slow()
	}
	body := blk[nl+1 : end]
	if len(body) == 0 || bytes.ContainsAny(body, ": \t") {
		return slow() // headers, other whitespace, or nothing
	}
	// base64.StdEncoding skips '\r' and '\n' itself.
	der := make([]byte, base64.StdEncoding.DecodedLen(len(body)))
	n, err := base64.StdEncoding.Decode(der, body)
	if err != nil {
		return slow() // corrupt: let encoding/pem decide
	}
	return &pem.Block{Type: string(typ), Bytes: der[:n]}
}

// firstElement returns the first DER element of b (the certificate of an
// OpenSSL TRUSTED CERTIFICATE, which appends an X509_CERT_AUX).
func firstElement(b []byte) ([]byte, error) {
	var raw asn1.RawValue
	if _, err := asn1.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("not DER: %w", err)
	}
	return raw.FullBytes, nil
}

var p11kitHeader = []byte("[p11-kit-object-v1]")

func isP11Kit(data []byte) bool { return bytes.Contains(data, p11kitHeader) }

// p11kitDistrusted reports whether the p11-kit object holding offset at
// carries "x-distrusted: true" before its PEM block.
func p11kitDistrusted(data []byte, at int) bool {
	h := bytes.LastIndex(data[:at], p11kitHeader)
	if h < 0 {
		return false
	}
	for _, l := range bytes.Split(data[h:at], []byte("\n")) {
		k, v, ok := bytes.Cut(l, []byte(":"))
		if ok && string(bytes.TrimSpace(k)) == "x-distrusted" && string(bytes.TrimSpace(v)) == "true" {
			return true
		}
	}
	return false
}

// parseSource reads a trust-source file (anchor, blocklist entry, vendor
// file): PEM (any number of blocks, other text ignored) or a single DER
// certificate, as p11-kit and the Debian tool accept.
func parseSource(data []byte) (parsed, error) {
	if bytes.Contains(data, beginMarker) {
		return scanPEM(data, false)
	}
	if len(data) > 0 && data[0] == 0x30 {
		der, err := firstElement(data)
		if err == nil {
			return parsed{Certs: []entry{newEntry(der, 0, false)}}, nil
		}
	}
	return parsed{}, errors.New("neither PEM nor a DER certificate")
}

// parseBundle parses an extracted bundle strictly: only certificate
// blocks, each of which must parse. The certificates come back in file
// order with their entries.
func parseBundle(data []byte) ([]entry, []*x509.Certificate, error) {
	p, err := scanPEM(data, true)
	if err != nil {
		return nil, nil, err
	}
	if len(p.PublicKeys) > 0 {
		return nil, nil, errors.New("PUBLIC KEY block in a certificate bundle")
	}
	certs := make([]*x509.Certificate, len(p.Certs))
	for i, e := range p.Certs {
		c, err := x509.ParseCertificate(e.DER)
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", e.Line, err)
		}
		certs[i] = c
	}
	return p.Certs, certs, nil
}
