package pembundle

import (
	"bytes"
	"crypto/x509"
	"hash/maphash"
	"sync"

	"github.com/anchorwatch/anchorwatch/stores"
)

// Parsed is a parsed bundle. It is shared between callers: read only.
type Parsed struct {
	Blocks []Block
	// Certs is parallel to Blocks: the parsed certificate of each
	// certificate block, nil for other blocks and for certificates
	// crypto/x509 rejects.
	Certs []*x509.Certificate
	// Anchors are the certificates as trust anchors (trusted for TLS
	// server auth, labelled), Vendor set where certifi's header names the
	// certificate: copy before changing one.
	Anchors []stores.Anchor
}

// Cache remembers parses by content. The zero value is not usable; use
// NewCache. It is safe for concurrent use.
type Cache struct {
	mu    sync.Mutex
	seed  maphash.Seed
	m     map[uint64][]entry
	bytes int
	bufs  sync.Pool // *[]byte read buffers, so that reading hundreds of bundles allocates a few
}

type entry struct {
	data   []byte
	parsed *Parsed
	err    error
}

// Bounds of a cache: past either it starts over.
const (
	cacheEntries = 64
	cacheBytes   = 64 << 20
)

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{seed: maphash.MakeSeed(), m: map[uint64][]entry{}} }

// key hashes the length and the first 4 KiB: bundles that differ mostly
// differ in length or head, and every hit is confirmed byte for byte, so
// a collision costs one comparison, never a wrong answer.
func key(seed maphash.Seed, data []byte) uint64 {
	return maphash.Bytes(seed, data[:min(len(data), 4096)]) ^ uint64(len(data))*0x9e3779b97f4a7c15
}

// Buffer returns a read buffer to give back with Release.
func (c *Cache) Buffer() *[]byte {
	if b, ok := c.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 512<<10)
	return &b
}

// Release gives a buffer back.
func (c *Cache) Release(b *[]byte) { c.bufs.Put(b) }

// Parse parses data, or returns the parse of an identical earlier
// content (compared byte for byte, not only by hash).
func (c *Cache) Parse(data []byte) (*Parsed, error) {
	h := key(c.seed, data)
	c.mu.Lock()
	for _, e := range c.m[h] {
		if bytes.Equal(e.data, data) {
			c.mu.Unlock()
			return e.parsed, e.err
		}
	}
	c.mu.Unlock()
	p, err := parse(data)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= cacheEntries || c.bytes+len(data) > cacheBytes {
		c.m, c.bytes = map[uint64][]entry{}, 0
	}
	c.m[h] = append(c.m[h], entry{data: bytes.Clone(data), parsed: p, err: err})
	c.bytes += len(data)
	return p, err
}

func parse(data []byte) (*Parsed, error) {
	blocks, err := Parse(data)
	if err != nil {
		return nil, err
	}
	p := &Parsed{Blocks: blocks, Certs: make([]*x509.Certificate, len(blocks))}
	for i, b := range blocks {
		if !b.IsCert() {
			continue
		}
		c, err := x509.ParseCertificate(b.DER)
		if err != nil {
			continue // OpenSSL may still load it; crypto/x509 cannot describe it
		}
		p.Certs[i] = c
		p.Anchors = append(p.Anchors, stores.Anchor{Cert: c, SHA256: b.SHA256, Label: labelOf(b, c),
			TrustedServerAuth: true, Vendor: vendorHeader(b)})
	}
	return p, nil
}
