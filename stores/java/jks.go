package java

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/pavlo-v-chernykh/keystore-go/v4"
)

// JKS layout (big endian): magic, version (1 or 2), entry count, entries,
// then a SHA-1 over password-as-UTF-16 || "Mighty Aphrodite" || everything
// before it. Entry: tag (1 private key, 2 trusted cert), alias (u16 length +
// modified UTF-8), creation time (u64 ms); a private key adds its encrypted
// key (u32 length) and a certificate chain (u32 count); a certificate is a
// type string (version 2 only) and u32-length DER.

// jksEntry is one entry as scanned from the bytes, in file order.
type jksEntry struct {
	alias   string
	tag     uint32
	created time.Time
	certs   [][]byte // DER: the trusted cert, or the key's chain
	types   []string // certificate types ("X.509")
}

// scanJKS walks the JKS structure with every length checked against the
// data, before keystore-go (which allocates whatever length a file claims)
// sees it. It returns the entries in file order.
func scanJKS(data []byte) ([]jksEntry, error) {
	r := jksReader{b: data}
	if r.u32() != magicJKS {
		return nil, errors.New("not a JKS keystore (bad magic)")
	}
	version := r.u32()
	if r.err == nil && version != 1 && version != 2 {
		return nil, fmt.Errorf("unsupported JKS version %d", version)
	}
	count := r.u32()
	if r.err != nil {
		return nil, r.err
	}
	// every entry takes at least 4+2+8+4 bytes
	if uint64(count)*18 > uint64(len(data)) {
		return nil, fmt.Errorf("truncated: header claims %d entries in %d bytes", count, len(data))
	}
	entries := make([]jksEntry, 0, count)
	for i := uint32(0); i < count && r.err == nil; i++ {
		var e jksEntry
		e.tag = r.u32()
		e.alias = string(r.bytes(uint64(r.u16())))
		e.created = time.UnixMilli(int64(r.u64()))
		switch e.tag {
		case 1:
			r.bytes(uint64(r.u32())) // encrypted key
			n := r.u32()
			if uint64(n)*4 > uint64(r.left()) {
				return nil, fmt.Errorf("entry %d (%q): truncated certificate chain", i, e.alias)
			}
			for j := uint32(0); j < n && r.err == nil; j++ {
				t, der := r.cert(version)
				e.types, e.certs = append(e.types, t), append(e.certs, der)
			}
		case 2:
			t, der := r.cert(version)
			e.types, e.certs = append(e.types, t), append(e.certs, der)
		default:
			if r.err == nil {
				return nil, fmt.Errorf("entry %d: unknown entry tag %d (corrupt keystore)", i, e.tag)
			}
		}
		if r.err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, r.err)
		}
		entries = append(entries, e)
	}
	if r.err != nil {
		return nil, r.err
	}
	switch r.left() {
	case sha1.Size:
	case 0:
		return nil, errors.New("truncated: integrity digest missing")
	default:
		if r.left() < sha1.Size {
			return nil, errors.New("truncated: integrity digest cut short")
		}
		return nil, fmt.Errorf("%d bytes of trailing garbage after the integrity digest", r.left()-sha1.Size)
	}
	return entries, nil
}

type jksReader struct {
	b   []byte
	off int
	err error
}

var errTruncated = errors.New("truncated")

func (r *jksReader) left() int { return len(r.b) - r.off }

func (r *jksReader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(r.left()) {
		r.err = errTruncated
		return nil
	}
	out := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return out
}

func (r *jksReader) u16() uint16 {
	if b := r.bytes(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *jksReader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *jksReader) u64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *jksReader) cert(version uint32) (typ string, der []byte) {
	typ = "X.509"
	if version == 2 {
		typ = string(r.bytes(uint64(r.u16())))
	}
	return typ, r.bytes(uint64(r.u32()))
}

// jksDigestOK reports whether the trailing SHA-1 of data matches password,
// the check keytool calls "Keystore was tampered with, or password was
// incorrect". data must have passed scanJKS.
func jksDigestOK(data []byte, password string) bool {
	h := sha1.New()
	for i := 0; i < len(password); i++ {
		// keytool hashes UTF-16 code units big endian; for the ASCII
		// passwords we accept that is 0, byte (as keystore-go does).
		h.Write([]byte{0, password[i]})
	}
	h.Write([]byte("Mighty Aphrodite"))
	h.Write(data[:len(data)-sha1.Size])
	return bytes.Equal(h.Sum(nil), data[len(data)-sha1.Size:])
}

// decodeJKS opens a JKS keystore with the first password in passwords that
// passes the integrity check.
func decodeJKS(data []byte, passwords []string) (*keystoreFile, error) {
	scanned, err := scanJKS(data)
	if err != nil {
		return nil, fmt.Errorf("corrupt JKS keystore: %w", err)
	}
	password, ok, nonASCII := "", false, false
	for _, p := range passwords {
		if !isASCII(p) {
			nonASCII = true // keystore-go hashes bytes, keytool UTF-16 units
			continue
		}
		if jksDigestOK(data, p) {
			password, ok = p, true
			break
		}
	}
	if !ok {
		if nonASCII {
			return nil, errors.New("non-ASCII JKS passwords are not supported: convert the keystore to PKCS12 with keytool -importkeystore")
		}
		return nil, errWrongPassword
	}
	kf := &keystoreFile{format: FormatJKS, password: password, raw: data}
	for _, e := range scanned {
		ent := entry{alias: e.alias, created: e.created}
		switch e.tag {
		case 1:
			ent.kind = kindPrivateKey
		case 2:
			ent.kind = kindTrusted
		}
		for i, der := range e.certs {
			c, err := parseCert(e.types[i], der)
			if err != nil {
				ent.bad = append(ent.bad, err)
				continue
			}
			ent.certs = append(ent.certs, c)
		}
		kf.entries = append(kf.entries, ent)
	}
	return kf, nil
}

func parseCert(typ string, der []byte) (*x509.Certificate, error) {
	if typ != "X.509" {
		return nil, fmt.Errorf("certificate of type %q", typ)
	}
	var c *x509.Certificate
	err := safeCall(func() (err error) {
		c, err = x509.ParseCertificate(der)
		return err
	})
	return c, err
}

// encodeJKS writes kf with keystore-go: the original file is loaded (so
// private key entries stay exactly as they were, still encrypted), entries
// no longer in kf are deleted, new trusted ones added, and the result is
// stored with the password the file was opened with.
func encodeJKS(kf *keystoreFile) ([]byte, error) {
	ks := keystore.New(keystore.WithOrderedAliases(), keystore.WithCaseExactAliases())
	if err := safeCall(func() error { return ks.Load(bytes.NewReader(kf.raw), []byte(kf.password)) }); err != nil {
		return nil, fmt.Errorf("corrupt JKS keystore: %w", err)
	}
	keep := map[string]bool{}
	for _, e := range kf.entries {
		keep[e.alias] = true
		if ks.IsTrustedCertificateEntry(e.alias) || ks.IsPrivateKeyEntry(e.alias) {
			continue
		}
		if e.kind != kindTrusted || len(e.certs) != 1 {
			return nil, fmt.Errorf("entry %q: only trusted certificates can be added", e.alias)
		}
		err := ks.SetTrustedCertificateEntry(e.alias, keystore.TrustedCertificateEntry{
			CreationTime: e.created,
			Certificate:  keystore.Certificate{Type: "X.509", Content: e.certs[0].Raw},
		})
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", e.alias, err)
		}
	}
	for _, a := range ks.Aliases() {
		if !keep[a] {
			ks.DeleteEntry(a)
		}
	}
	var buf bytes.Buffer
	if err := ks.Store(&buf, []byte(kf.password)); err != nil {
		return nil, fmt.Errorf("encode JKS: %w", err)
	}
	return buf.Bytes(), nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
