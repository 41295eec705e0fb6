package main

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestTestDepsAreUsed: every tool scripts/test-deps.sh checks for (and
// installs) is run by something in the repository: a Go string literal
// naming it ("certutil", "/usr/lib/squid/security_file_certgen"), or a
// command in a script or the Makefile, or what its "# used: TEXT" comment
// names. A package nothing uses is not listed.
func TestTestDepsAreUsed(t *testing.T) {
	script := readDoc(t, "../../scripts/test-deps.sh")
	entry := regexp.MustCompile(`(?m)^\s+"(\S+) (\S+)"(?:\s+# used: (.+))?$`)
	var code, scripts strings.Builder
	err := filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && p != "../.." || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		name := d.Name()
		switch {
		case d.IsDir() || p == "../../scripts/test-deps.sh":
		case strings.HasSuffix(name, ".go"):
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			code.Write(b)
		case strings.HasSuffix(name, ".sh") || strings.HasSuffix(name, ".py") || name == "Makefile":
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			scripts.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	entries := entry.FindAllStringSubmatch(script, -1)
	if len(entries) < 10 {
		t.Fatalf("scripts/test-deps.sh: %d checks read; the format changed?", len(entries))
	}
	for _, e := range entries {
		what, pkg := e[1], e[2]
		tool := path.Base(what)
		inCode := strings.Contains(code.String(), `"`+what+`"`) || strings.Contains(code.String(), `"`+tool+`"`)
		inScript := regexp.MustCompile(`(?m)(^|[\s/(])` + regexp.QuoteMeta(tool) + `(\s|$)`).MatchString(scripts.String())
		if e[3] != "" { // the check names a file of the package; the comment says what uses it
			inCode = strings.Contains(code.String(), strings.TrimSpace(e[3]))
			inScript = false
		}
		if !inCode && !inScript {
			t.Errorf("scripts/test-deps.sh checks %s (%s), which nothing in the repository runs", what, pkg)
		}
	}
}
