package pembundle

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
)

// Block is one PEM block of a bundle.
type Block struct {
	Start, End int // byte span: the BEGIN line through the END line's line break
	Line       int // line of the BEGIN line, from 1
	Type       string
	// DER and SHA256 are set for certificate blocks (CERTIFICATE, X509
	// CERTIFICATE, and the certificate part of a TRUSTED CERTIFICATE).
	DER    []byte
	SHA256 string
	// Comment holds the '#' lines right before the block (certifi names
	// each root there; Append writes its label there).
	Comment string
}

// IsCert reports whether the block is a certificate.
func (b Block) IsCert() bool { return b.DER != nil }

var (
	beginMarker = []byte("-----BEGIN ")
	endMarker   = []byte("-----END ")
)

// Parse returns every PEM block of data in order. Text outside blocks is
// allowed; a BEGIN without its END, a second BEGIN before the END, or a
// block that does not decode is an error naming its line.
func Parse(data []byte) ([]Block, error) {
	var out []Block
	off, line, counted := 0, 1, 0
	for {
		i := bytes.Index(data[off:], beginMarker)
		if i < 0 {
			return out, nil
		}
		start := off + i
		line += bytes.Count(data[counted:start], []byte("\n"))
		counted = start
		body := data[start+len(beginMarker):]
		j := bytes.Index(body, endMarker)
		if j < 0 {
			return out, fmt.Errorf("line %d: PEM block has no END line (file truncated?)", line)
		}
		if bytes.Contains(body[:j], beginMarker) {
			return out, fmt.Errorf("line %d: PEM block has no END line before the next BEGIN", line)
		}
		endAt := start + len(beginMarker) + j
		stop := len(data)
		if eol := bytes.IndexByte(data[endAt:], '\n'); eol >= 0 {
			stop = endAt + eol + 1
		}
		p, rest := pem.Decode(data[start:stop])
		if p == nil || len(bytes.TrimSpace(rest)) > 0 {
			return out, fmt.Errorf("line %d: PEM block does not decode (corrupt base64 or mismatched BEGIN/END lines)", line)
		}
		b := Block{Start: start, End: stop, Line: line, Type: p.Type, Comment: commentBefore(data, start)}
		switch p.Type {
		case "CERTIFICATE", "X509 CERTIFICATE":
			b.DER = p.Bytes
		case "TRUSTED CERTIFICATE":
			var raw asn1.RawValue
			if _, err := asn1.Unmarshal(p.Bytes, &raw); err != nil {
				return out, fmt.Errorf("line %d: TRUSTED CERTIFICATE block is not DER", line)
			}
			b.DER = raw.FullBytes
		}
		if b.DER != nil {
			sum := sha256.Sum256(b.DER)
			b.SHA256 = hex.EncodeToString(sum[:])
		}
		out = append(out, b)
		off = stop
	}
}

// commentBefore returns the run of '#' lines that ends right before at.
func commentBefore(data []byte, at int) string {
	start := at
	for start > 0 {
		prev := bytes.LastIndexByte(data[:start-1], '\n') + 1
		l := bytes.TrimSpace(data[prev:start])
		if len(l) == 0 || l[0] != '#' {
			break
		}
		start = prev
	}
	return string(data[start:at])
}

// Label is the comment line Append writes before a certificate.
func Label(c *x509.Certificate) string {
	name := c.Subject.CommonName
	if name == "" {
		name = c.Subject.String()
	}
	return "# " + stores.Label(c) + ": " + clean(name)
}

// clean keeps a name on one printable line of bounded length.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// Append returns data with each certificate added as a labelled PEM block
// at the end (after a line break when data does not end with one).
func Append(data []byte, certs []*x509.Certificate) []byte {
	out := append([]byte{}, data...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	for _, c := range certs {
		if len(out) > 0 {
			out = append(out, '\n')
		}
		out = append(out, Label(c)...)
		out = append(out, '\n')
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// Remove returns data without the certificate blocks whose SHA-256 is in
// drop, together with the label line and blank line Append wrote before
// each. blocks is Parse(data).
func Remove(data []byte, blocks []Block, drop map[string]bool) []byte {
	out := append([]byte{}, data...)
	for i := len(blocks) - 1; i >= 0; i-- {
		b := blocks[i]
		if !b.IsCert() || !drop[b.SHA256] {
			continue
		}
		start := b.Start
		if start == 0 {
			out = append(out[:0], out[b.End:]...)
			continue
		}
		if ls := bytes.LastIndexByte(out[:start-1], '\n') + 1; bytes.HasPrefix(out[ls:start], []byte("# "+stores.LabelPrefix)) {
			start = ls
			if start >= 2 && out[start-1] == '\n' && out[start-2] == '\n' {
				start--
			}
		}
		out = append(out[:start], out[b.End:]...)
	}
	return out
}

// Certs counts the certificate blocks.
func Certs(blocks []Block) int {
	n := 0
	for _, b := range blocks {
		if b.IsCert() {
			n++
		}
	}
	return n
}

// labelOf names a certificate: our label, certifi's "# Label:", or its CN.
func labelOf(b Block, c *x509.Certificate) string {
	for _, l := range strings.Split(b.Comment, "\n") {
		l = strings.TrimSpace(l)
		if rest, ok := strings.CutPrefix(l, "# "+stores.LabelPrefix); ok {
			name, _, _ := strings.Cut(rest, ":")
			return stores.LabelPrefix + name
		}
		if rest, ok := strings.CutPrefix(l, "# Label:"); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return c.Subject.CommonName
}

// vendorHeader reports whether certifi's header before the block names
// this very certificate by its SHA-256.
func vendorHeader(b Block) bool {
	i := strings.Index(b.Comment, "# SHA256 Fingerprint:")
	if i < 0 {
		return false
	}
	fp, _, _ := strings.Cut(b.Comment[i+len("# SHA256 Fingerprint:"):], "\n")
	got, ok := stores.NormalizeSHA256(fp)
	return ok && got == b.SHA256
}
