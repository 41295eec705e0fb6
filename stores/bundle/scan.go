package bundle

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// scanRoots are the trees where programs ship bundles.
var scanRoots = []string{"/opt", "/usr/local", "/Program Files", "/Program Files (x86)"}

// Bounds of the walk.
const (
	maxDepth   = 8
	maxEntries = 20000
	minSize    = 1 << 10
	maxSize    = 8 << 20
	headSize   = 4 << 10
)

// skipDirs are directory names never entered.
var skipDirs = map[string]bool{"node_modules": true, ".git": true, "__pycache__": true, "site-packages": true,
	"dist-packages": true, "include": true, "man": true, "locale": true, "doc": true, "certs.d": true,
	"aws-cli": true, "google-cloud-sdk": true, "ca-certificates": true, "jvm": true, "Git": true}

// skipExt are extensions of files that are never bundles.
var skipExt = map[string]bool{".so": true, ".a": true, ".o": true, ".py": true, ".pyc": true, ".js": true,
	".json": true, ".html": true, ".png": true, ".jpg": true, ".gif": true, ".svg": true, ".ttf": true,
	".woff": true, ".woff2": true, ".jar": true, ".class": true, ".zip": true, ".gz": true, ".xz": true,
	".bz2": true, ".zst": true, ".dll": true, ".exe": true, ".h": true, ".c": true, ".go": true, ".md": true,
	".rst": true, ".mo": true, ".db": true, ".sqlite": true, ".ico": true, ".css": true, ".map": true,
	".ts": true, ".xml": true, ".rb": true, ".pl": true, ".sh": true, ".key": true, ".cert": true}

var (
	beginCert = []byte("-----BEGIN CERTIFICATE-----")
	privKey   = []byte("PRIVATE KEY-----")
)

// scan walks the trees under root and returns the files holding a PEM
// bundle (paths inside root, not through links).
func scan(ctx context.Context, root string) []string {
	var out []string
	for _, top := range scanRoots {
		n := 0
		var walk func(dir string, depth int)
		walk = func(dir string, depth int) {
			if depth > maxDepth || n >= maxEntries || ctx.Err() != nil {
				return
			}
			ents, err := os.ReadDir(hostPath(root, dir))
			if err != nil {
				return
			}
			for _, e := range ents {
				if n++; n >= maxEntries {
					return
				}
				p := path.Join(dir, e.Name())
				switch {
				case e.Type()&fs.ModeSymlink != 0:
				case e.IsDir():
					if !skipDirs[e.Name()] && !strings.HasPrefix(e.Name(), "python") && !ownedElsewhere(p) {
						walk(p, depth+1)
					}
				case e.Type().IsRegular() && !skipExt[strings.ToLower(path.Ext(e.Name()))]:
					if isBundle(ctx, root, p, e) {
						out = append(out, p)
					}
				}
			}
		}
		walk(top, 0)
	}
	return out
}

// ownedElsewhere names trees another adapter covers.
func ownedElsewhere(p string) bool {
	return p == "/usr/local/share/ca-certificates" || strings.HasSuffix(p, "/certifi") || strings.HasSuffix(p, "/_vendor")
}

// isBundle reads the head of a file of plausible size for a PEM
// certificate, then the whole file for a second one and no private key.
func isBundle(ctx context.Context, root, p string, e fs.DirEntry) bool {
	fi, err := e.Info()
	if err != nil || fi.Size() < minSize || fi.Size() > maxSize {
		return false
	}
	f, err := os.OpenFile(hostPath(root, p), os.O_RDONLY|oNoFollow|oNonBlock, 0)
	if err != nil {
		return false
	}
	head := make([]byte, headSize)
	nr, _ := f.Read(head)
	f.Close()
	if !bytes.Contains(head[:nr], beginCert) {
		return false
	}
	data, _, err := fsroot.ReadBeneath(ctx, root, p, maxSize)
	return err == nil && bytes.Count(data, beginCert) >= 2 && !bytes.Contains(data, privKey)
}

func hostPath(root, p string) string { return fsroot.HostPath(root, p) }
