package pki_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// readSeed decodes a committed fuzz seed (go test fuzz v1, one []byte).
func readSeed(t *testing.T, fuzzer, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "fuzz", fuzzer, name))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(data), "\n", 3)
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "[]byte(") {
		t.Fatalf("seed %s/%s: not a []byte seed", fuzzer, name)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		t.Fatalf("seed %s/%s: %v", fuzzer, name, err)
	}
	return []byte(s)
}
