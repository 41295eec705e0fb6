package windows

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// Property ids crypt32 keeps beside a certificate in a serialized store
// element (the registry "Blob" value of a certificate).
const (
	PropSHA1Hash     = 3  // CERT_SHA1_HASH_PROP_ID
	PropEKU          = 9  // CERT_ENHKEY_USAGE_PROP_ID: DER EnhancedKeyUsage restricting the purposes
	PropFriendlyName = 11 // CERT_FRIENDLY_NAME_PROP_ID: UTF-16LE, NUL-terminated
	PropCert         = 32 // the encoded certificate element itself
)

// MaxBlob bounds a registry blob we decode; real ones are a few KiB.
const MaxBlob = 1 << 20

// ErrBadBlob is wrapped by every blob decoding error.
var ErrBadBlob = errors.New("malformed certificate blob")

// Blob is a decoded serialized certificate element: the DER certificate
// and the properties stored with it, by property id.
type Blob struct {
	DER   []byte
	Props map[uint32][]byte
}

// DecodeBlob decodes the "Blob" value of a certificate under a
// SystemCertificates registry key (HKLM\SOFTWARE\Policies\Microsoft\
// SystemCertificates\Root\Certificates\<SHA1>\Blob and the like): a
// sequence of records {property id u32, encoding u32 (1), length u32,
// value}, all little-endian, where property 32 holds the DER certificate.
func DecodeBlob(b []byte) (Blob, error) {
	if len(b) > MaxBlob {
		return Blob{}, fmt.Errorf("%w: %d bytes is over the %d byte limit", ErrBadBlob, len(b), MaxBlob)
	}
	out := Blob{Props: map[uint32][]byte{}}
	for off := 0; off < len(b); {
		if len(b)-off < 12 {
			return Blob{}, fmt.Errorf("%w: truncated record header at offset %d", ErrBadBlob, off)
		}
		id := binary.LittleEndian.Uint32(b[off:])
		n := binary.LittleEndian.Uint32(b[off+8:])
		off += 12
		if uint64(n) > uint64(len(b)-off) {
			return Blob{}, fmt.Errorf("%w: property %d claims %d bytes, %d left", ErrBadBlob, id, n, len(b)-off)
		}
		val := b[off : off+int(n)]
		off += int(n)
		if _, dup := out.Props[id]; dup {
			return Blob{}, fmt.Errorf("%w: property %d appears twice", ErrBadBlob, id)
		}
		out.Props[id] = val
	}
	der, ok := out.Props[PropCert]
	if !ok || len(der) == 0 {
		return Blob{}, fmt.Errorf("%w: no certificate element (property %d)", ErrBadBlob, PropCert)
	}
	out.DER = der
	delete(out.Props, PropCert)
	return out, nil
}

// EncodeBlob is the inverse of DecodeBlob: the properties in ascending id
// order, then the certificate element, the layout crypt32 writes.
func EncodeBlob(b Blob) []byte {
	ids := make([]uint32, 0, len(b.Props))
	for id := range b.Props {
		if id != PropCert {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var out []byte
	put := func(id uint32, v []byte) {
		out = binary.LittleEndian.AppendUint32(out, id)
		out = binary.LittleEndian.AppendUint32(out, 1)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(v)))
		out = append(out, v...)
	}
	for _, id := range ids {
		put(id, b.Props[id])
	}
	put(PropCert, b.DER)
	return out
}
