package installers

import (
	"encoding/binary"
	"fmt"
	"path"
)

// A Bom ("bill of materials") lists every path a macOS package installs,
// with mode, owner, size and checksum; Installer records it as the
// package's receipt (pkgutil --files). No Debian package writes one, so
// it is written here from the format documented by bomutils and
// stuckliste (which checks itself against Apple's mkbom and lsbom):
//
//   - a 512-byte header: "BOMStore", version 1, the number of non-null
//     blocks, then offset and length of the block index and of the
//     variables table; all integers big-endian;
//   - blocks, addressed by their position in the index (block 0 is null);
//   - the variables table: count, then per variable the index of its
//     block, a one-byte name length and the name;
//   - the block index: count, (offset, length) per block, then the free
//     list (count 0 and two empty entries, as mkbom writes it).
//
// The variables of a receipt: BomInfo (version 1, number of paths + 1,
// per-CPU-type size totals), Paths (a tree whose leaf maps, per path
// component, a key block {id, metadata block} to a value block {parent
// id, name}), and the empty trees HLIndex (hard links), VIndex (virtual
// paths) and Size64 (sizes over 4 GiB). A path's metadata: type (1 file,
// 2 directory), 1, flags 0x000f (a full, not a paths-only, Bom), mode,
// uid, gid, mtime, size, 1, for a file the POSIX cksum CRC of its
// content, then eight zero bytes. Executables are recorded as plain
// files (flags 0x000f), as bomutils' mkbom does: Apple's own mkbom adds
// per-architecture records, which Installer does not need to install.
//
// Only one leaf is written, so a Bom holds at most maxBomPaths paths.

const maxBomPaths = 256

type bomWriter struct {
	blocks [][]byte // block i+1
}

// add stores a block and returns its index.
func (w *bomWriter) add(b []byte) uint32 {
	w.blocks = append(w.blocks, b)
	return uint32(len(w.blocks))
}

func be32(v ...uint32) []byte {
	out := make([]byte, 0, 4*len(v))
	for _, x := range v {
		out = binary.BigEndian.AppendUint32(out, x)
	}
	return out
}

// tree is a Bom tree header pointing at its root node.
func bomTree(child uint32, blockSize uint32, n uint32) []byte {
	return append(append([]byte("tree"), be32(1, child, blockSize, n)...), 0)
}

// emptyLeaf is a tree node with no entries.
func emptyLeaf() []byte { return append([]byte{0, 1, 0, 0}, be32(0, 0)...) }

// bom builds the Bom of the payload entries (as cpioODC takes them).
func bom(es []pkgEntry, mtime uint32) ([]byte, error) {
	if err := checkEntries(es); err != nil {
		return nil, err
	}
	if len(es) > maxBomPaths {
		return nil, fmt.Errorf("bom: %d paths, at most %d fit one leaf", len(es), maxBomPaths)
	}
	w := &bomWriter{}
	ids := map[string]uint32{} // path -> id (1-based, in listing order)
	leaf := append([]byte{0, 1}, binary.BigEndian.AppendUint16(nil, uint16(len(es)))...)
	leaf = append(leaf, be32(0, 0)...)
	var total uint32
	for i, e := range bomOrder(es) {
		id := uint32(i + 1)
		ids[e.name] = id
		parent := uint32(0)
		if e.name != "." {
			parent = ids[entryDir(e.name)]
		}
		meta := bomMetadata(e, mtime)
		total += uint32(len(e.data))
		key := w.add(be32(id, w.add(meta)))
		val := w.add(append(append(be32(parent), path.Base(e.name)...), 0))
		leaf = append(leaf, be32(key, val)...)
	}
	n := uint32(len(es))
	vars := []struct {
		name  string
		block uint32
	}{
		{"BomInfo", w.add(append(be32(1, n+1, 1), be32(0, 0, total, 0)...))},
		{"Paths", w.add(bomTree(w.add(leaf), 4096, n))},
		{"HLIndex", w.add(bomTree(w.add(emptyLeaf()), 4096, 0))},
		{"VIndex", w.add(append(be32(1, w.add(bomTree(w.add(emptyLeaf()), 128, 0)), 0), 0))},
		{"Size64", w.add(bomTree(w.add(emptyLeaf()), 128, 0))},
	}
	// Layout: header, blocks, variables, index.
	const header = 512
	out := make([]byte, header)
	offsets := make([]uint32, len(w.blocks))
	for i, b := range w.blocks {
		offsets[i] = uint32(len(out))
		out = append(out, b...)
	}
	varsOff := uint32(len(out))
	out = append(out, be32(uint32(len(vars)))...)
	for _, v := range vars {
		out = append(out, be32(v.block)...)
		out = append(out, byte(len(v.name)))
		out = append(out, v.name...)
	}
	indexOff := uint32(len(out))
	out = append(out, be32(uint32(len(w.blocks)+1), 0, 0)...) // count, null block
	for i, b := range w.blocks {
		out = append(out, be32(offsets[i], uint32(len(b)))...)
	}
	out = append(out, be32(0, 0, 0, 0, 0)...) // free list: none, two empty entries
	copy(out, "BOMStore")
	binary.BigEndian.PutUint32(out[8:], 1)
	binary.BigEndian.PutUint32(out[12:], uint32(len(w.blocks)))
	binary.BigEndian.PutUint32(out[16:], indexOff)
	binary.BigEndian.PutUint32(out[20:], uint32(len(out))-indexOff)
	binary.BigEndian.PutUint32(out[24:], varsOff)
	binary.BigEndian.PutUint32(out[28:], indexOff-varsOff)
	return out, nil
}

// bomOrder lists the entries breadth first from ".", each directory's
// children by name, as mkbom numbers them: a parent always has a smaller
// id than its children. (checkEntries has made sure every parent is an
// entry.)
func bomOrder(es []pkgEntry) []pkgEntry {
	children := map[string][]pkgEntry{}
	var root []pkgEntry
	for _, e := range es {
		if e.name == "." {
			root = append(root, e)
			continue
		}
		children[entryDir(e.name)] = append(children[entryDir(e.name)], e)
	}
	for _, c := range children {
		sortEntries(c)
	}
	out := make([]pkgEntry, 0, len(es))
	queue := root
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		out = append(out, e)
		queue = append(queue, children[e.name]...)
	}
	return out
}

// bomMetadata is the metadata block of one path.
func bomMetadata(e pkgEntry, mtime uint32) []byte {
	typ := byte(1)
	if e.mode.IsDir() {
		typ = 2
	}
	m := []byte{typ, 1, 0x00, 0x0f}
	m = binary.BigEndian.AppendUint16(m, uint16(e.unixMode()))
	m = append(m, be32(uint32(e.uid), uint32(e.gid), mtime, uint32(len(e.data)))...)
	m = append(m, 1)
	if typ == 1 {
		m = append(m, be32(posixCksum(e.data))...)
	}
	return append(m, make([]byte, 8)...)
}

// posixCksum is the CRC of POSIX cksum (and of macOS's): CRC-32 with
// polynomial 0x04C11DB7, most significant bit first, over the data and
// then its length (least significant byte first, as few bytes as it
// needs), complemented.
func posixCksum(data []byte) uint32 {
	var crc uint32
	step := func(b byte) {
		crc ^= uint32(b) << 24
		for i := 0; i < 8; i++ {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04C11DB7
			} else {
				crc <<= 1
			}
		}
	}
	for _, b := range data {
		step(b)
	}
	for n := len(data); n > 0; n >>= 8 {
		step(byte(n))
	}
	return ^crc
}
