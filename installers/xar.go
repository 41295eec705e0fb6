package installers

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// A flat macOS package is a xar archive: a 28-byte header (magic "xar!",
// header size, version 1, the compressed and uncompressed sizes of the
// table of contents, checksum algorithm 1 = SHA-1), the table of contents
// (XML, zlib-compressed), then the heap. The heap starts with the SHA-1 of
// the compressed table of contents (named by the TOC's own <checksum>
// element); each file's data follows, stored as is (octet-stream: Payload
// and Scripts are gzip already), with its SHA-1 as archived and extracted
// checksum. productsign and rcodesign add a signature to such an archive
// later. libarchive (bsdtar) reads it independently.

// xarFile is a file or directory of a xar archive: path with "/"
// separators, no leading slash; directories have no data.
type xarFile struct {
	name string
	mode fs.FileMode
	data []byte
}

type xarTOCFile struct {
	XMLName xml.Name     `xml:"file"`
	ID      int          `xml:"id,attr"`
	Name    string       `xml:"name"`
	Type    string       `xml:"type"`
	Mode    string       `xml:"mode"`
	UID     int          `xml:"uid"`
	User    string       `xml:"user"`
	GID     int          `xml:"gid"`
	Group   string       `xml:"group"`
	Mtime   string       `xml:"mtime"`
	Data    *xarData     `xml:"data,omitempty"`
	Files   []xarTOCFile `xml:"file"`
}

type xarChecksum struct {
	Style string `xml:"style,attr"`
	Value string `xml:",chardata"`
}

type xarData struct {
	Length    int         `xml:"length"`
	Offset    int         `xml:"offset"`
	Size      int         `xml:"size"`
	Encoding  xarEncoding `xml:"encoding"`
	Archived  xarChecksum `xml:"archived-checksum"`
	Extracted xarChecksum `xml:"extracted-checksum"`
}

type xarEncoding struct {
	Style string `xml:"style,attr"`
}

type xarTOC struct {
	XMLName xml.Name `xml:"xar"`
	TOC     struct {
		CreationTime string `xml:"creation-time"`
		Checksum     struct {
			Style  string `xml:"style,attr"`
			Offset int    `xml:"offset"`
			Size   int    `xml:"size"`
		} `xml:"checksum"`
		Files []xarTOCFile `xml:"file"`
	} `xml:"toc"`
}

// xarArchive writes the files (each directory before what it holds) as a
// xar archive, owned by root:wheel, stamped mtime.
func xarArchive(files []xarFile, mtime time.Time) ([]byte, error) {
	var toc xarTOC
	toc.TOC.CreationTime = mtime.UTC().Format("2006-01-02T15:04:05")
	toc.TOC.Checksum.Style = "sha1"
	toc.TOC.Checksum.Size = sha1.Size
	heap := make([]byte, sha1.Size) // the TOC checksum goes first
	type node struct {
		file     xarTOCFile
		children []*node
	}
	root := &node{}
	dirs := map[string]*node{"": root}
	for i, f := range files {
		parent, base := "", f.name
		if j := strings.LastIndex(f.name, "/"); j >= 0 {
			parent, base = f.name[:j], f.name[j+1:]
		}
		dir, ok := dirs[parent]
		if !ok || base == "" {
			return nil, fmt.Errorf("xar: %q: its directory is not in the archive before it", f.name)
		}
		n := &node{file: xarTOCFile{ID: i + 1, Name: base, Type: "file", Mode: fmt.Sprintf("%04o", f.mode.Perm()),
			User: "root", Group: "wheel", Mtime: mtime.UTC().Format("2006-01-02T15:04:05Z")}}
		if f.mode.IsDir() {
			n.file.Type = "directory"
			dirs[f.name] = n
		} else {
			sum := sha1.Sum(f.data)
			s := hex.EncodeToString(sum[:])
			n.file.Data = &xarData{Length: len(f.data), Offset: len(heap), Size: len(f.data),
				Encoding:  xarEncoding{Style: "application/octet-stream"},
				Archived:  xarChecksum{Style: "sha1", Value: s},
				Extracted: xarChecksum{Style: "sha1", Value: s}}
			heap = append(heap, f.data...)
		}
		dir.children = append(dir.children, n)
	}
	var flatten func(n *node) []xarTOCFile
	flatten = func(n *node) []xarTOCFile {
		var out []xarTOCFile
		for _, c := range n.children {
			f := c.file
			f.Files = flatten(c)
			out = append(out, f)
		}
		return out
	}
	toc.TOC.Files = flatten(root)
	xmlTOC, err := xml.MarshalIndent(toc, "", " ")
	if err != nil {
		return nil, err
	}
	xmlTOC = append([]byte(xml.Header), xmlTOC...)
	var z bytes.Buffer
	zw, err := zlib.NewWriterLevel(&z, zlib.BestCompression)
	if err != nil {
		return nil, err
	}
	zw.Write(xmlTOC)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	sum := sha1.Sum(z.Bytes())
	copy(heap, sum[:])
	out := []byte("xar!")
	out = binary.BigEndian.AppendUint16(out, 28)
	out = binary.BigEndian.AppendUint16(out, 1)
	out = binary.BigEndian.AppendUint64(out, uint64(z.Len()))
	out = binary.BigEndian.AppendUint64(out, uint64(len(xmlTOC)))
	out = binary.BigEndian.AppendUint32(out, 1)
	out = append(out, z.Bytes()...)
	return append(out, heap...), nil
}
