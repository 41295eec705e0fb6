package pembundle

import (
	"bytes"
	"crypto/x509"
	"hash/maphash"
	"sync"
)

// Parsed is a parsed bundle. It is shared between callers: read only.
type Parsed struct {
	Blocks []Block
	// Certs is parallel to Blocks: the parsed certificate of each
	// certificate block, nil for other blocks and for certificates
	// crypto/x509 rejects.
	Certs []*x509.Certificate
}

// Cache remembers parses by content. The zero value is not usable; use
// NewCache. It is safe for concurrent use.
type Cache struct {
	mu    sync.Mutex
	seed  maphash.Seed
	m     map[uint64][]entry
	bytes int
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

// Parse parses data, or returns the parse of an identical earlier
// content (compared byte for byte, not only by hash).
func (c *Cache) Parse(data []byte) (*Parsed, error) {
	h := maphash.Bytes(c.seed, data)
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
		if b.IsCert() {
			p.Certs[i], _ = x509.ParseCertificate(b.DER)
		}
	}
	return p, nil
}
