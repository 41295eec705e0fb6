package installers

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

// needTool fails the test when a real tool is missing, naming the Debian
// package that provides it.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package %s", name, pkg)
	}
	return p
}

// run runs a tool and returns its standard output, failing t on error.
func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := runErr(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

func runErr(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%w: %s", err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// fixture is a root, an intermediate it issued, and a profile signer.
type fixture struct {
	root, inter *testpki.CA
	signer      *x509.Certificate
	signerKey   crypto.Signer
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	root := testpki.NewCA(t, "Corp Interception CA")
	signer, key := testpki.SelfSigned(t, "Corp Profile Signer")
	return fixture{root: root, inter: root.Intermediate(t, "Corp Issuing CA"), signer: signer, signerKey: key}
}

// decodePlist is a minimal independent XML property list decoder for tests:
// dict → map[string]any, array → []any, string, data → []byte,
// integer → int64, true/false → bool.
func decodePlist(data []byte) (any, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "plist" {
				return nil, fmt.Errorf("root element %q", se.Name.Local)
			}
			v, end, err := plistValue(d)
			if err != nil {
				return nil, err
			}
			if end {
				return nil, errors.New("empty plist")
			}
			return v, nil
		}
	}
}

// plistValue reads the next value; end is true when the enclosing element
// closed instead.
func plistValue(d *xml.Decoder) (v any, end bool, err error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, false, err
		}
		switch tok := tok.(type) {
		case xml.EndElement:
			return nil, true, nil
		case xml.StartElement:
			switch tok.Name.Local {
			case "dict":
				m := map[string]any{}
				for {
					var k string
					kt, err := nextStart(d)
					if err != nil {
						return nil, false, err
					}
					if kt == nil {
						return m, false, nil
					}
					if kt.Name.Local != "key" {
						return nil, false, fmt.Errorf("dict: <%s> where <key> expected", kt.Name.Local)
					}
					if err := d.DecodeElement(&k, kt); err != nil {
						return nil, false, err
					}
					val, end, err := plistValue(d)
					if err != nil {
						return nil, false, err
					}
					if end {
						return nil, false, fmt.Errorf("dict: key %q without value", k)
					}
					m[k] = val
				}
			case "array":
				var a []any
				for {
					val, end, err := plistValue(d)
					if err != nil {
						return nil, false, err
					}
					if end {
						return a, false, nil
					}
					a = append(a, val)
				}
			case "string", "data", "integer":
				var s string
				if err := d.DecodeElement(&s, &tok); err != nil {
					return nil, false, err
				}
				switch tok.Name.Local {
				case "string":
					return s, false, nil
				case "data":
					b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
					return b, false, err
				default:
					n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
					return n, false, err
				}
			case "true", "false":
				if err := d.Skip(); err != nil {
					return nil, false, err
				}
				return tok.Name.Local == "true", false, nil
			default:
				return nil, false, fmt.Errorf("unknown plist element <%s>", tok.Name.Local)
			}
		}
	}
}

// nextStart returns the next start element, or nil at the end of the
// enclosing element.
func nextStart(d *xml.Decoder) (*xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			return &tok, nil
		case xml.EndElement:
			return nil, nil
		}
	}
}

func tempFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
