package policy

import (
	"errors"
	"fmt"
)

// BER limits: a signed policy or a .p7b bundle is a few hundred KiB of
// DER (or BER from a streaming signer) nested a dozen levels deep.
const (
	maxBERDepth   = 32
	maxBERObjects = 1 << 16
)

// ErrMalformedBER is returned (wrapped) for input that is not well-formed
// BER within the limits above.
var ErrMalformedBER = errors.New("malformed PKCS#7: not well-formed BER")

// CheckBER walks der as BER/DER and refuses anything but one well-formed
// object: lengths that fit, indefinite lengths only on constructed
// encodings and closed by end-of-contents, at most maxBERDepth levels and
// maxBERObjects objects, low tag numbers only (PKCS#7 and X.509 use no
// others). It runs in time linear in len(der) and allocates nothing.
//
// Every PKCS#7 parse goes through it first: go.mozilla.org/pkcs7's BER
// converter recurses without bound on some malformed input (a policy blob
// of 3.6 KiB made it allocate 24 GiB), and the policy comes from the
// collector, which agents do not trust.
func CheckBER(der []byte) error {
	w := berWalker{data: der}
	end, err := w.object(0, 0)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedBER, err)
	}
	if end != len(der) {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformedBER, len(der)-end)
	}
	return nil
}

type berWalker struct {
	data    []byte
	objects int
}

// object checks the object at off and returns the offset after it.
func (w *berWalker) object(off, depth int) (int, error) {
	if depth > maxBERDepth {
		return 0, fmt.Errorf("nested deeper than %d levels", maxBERDepth)
	}
	if w.objects++; w.objects > maxBERObjects {
		return 0, fmt.Errorf("more than %d objects", maxBERObjects)
	}
	if off+2 > len(w.data) {
		return 0, fmt.Errorf("truncated at offset %d", off)
	}
	id, l := w.data[off], w.data[off+1]
	constructed := id&0x20 != 0
	if id&0x1f == 0x1f {
		return 0, fmt.Errorf("high tag number at offset %d", off)
	}
	off += 2
	switch {
	case l == 0x80:
		if !constructed {
			return 0, fmt.Errorf("indefinite length on a primitive at offset %d", off-2)
		}
		return w.indefinite(off, depth)
	case l > 0x80:
		n := int(l & 0x7f)
		if n > 4 || off+n > len(w.data) {
			return 0, fmt.Errorf("bad length at offset %d", off-2)
		}
		length := 0
		for _, b := range w.data[off : off+n] {
			length = length<<8 | int(b)
		}
		off += n
		return w.contents(off, length, constructed, depth)
	default:
		return w.contents(off, int(l), constructed, depth)
	}
}

// contents checks length bytes of contents at off (the children of a
// constructed encoding) and returns the offset after them.
func (w *berWalker) contents(off, length int, constructed bool, depth int) (int, error) {
	if length < 0 || length > len(w.data)-off {
		return 0, fmt.Errorf("length %d past the end at offset %d", length, off)
	}
	end := off + length
	if !constructed {
		return end, nil
	}
	for off < end {
		next, err := w.object(off, depth+1)
		if err != nil {
			return 0, err
		}
		if next > end {
			return 0, fmt.Errorf("object at offset %d overruns its parent", off)
		}
		off = next
	}
	return end, nil
}

// indefinite checks children up to the end-of-contents octets.
func (w *berWalker) indefinite(off, depth int) (int, error) {
	for {
		if off+2 > len(w.data) {
			return 0, errors.New("indefinite length without end-of-contents")
		}
		if w.data[off] == 0 && w.data[off+1] == 0 {
			return off + 2, nil
		}
		next, err := w.object(off, depth+1)
		if err != nil {
			return 0, err
		}
		off = next
	}
}
