package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// TestReadLimitedFile: an administrator's input file is read bounded
// through fsroot.ReadAll; one over the limit is the typed error.
func TestReadLimitedFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "in")
	if err := os.WriteFile(p, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := readLimitedFile(p, 5); err != nil || string(data) != "12345" {
		t.Errorf("at the limit: %q, %v", data, err)
	}
	if _, err := readLimitedFile(p, 4); !errors.Is(err, fsroot.ErrTooLarge) {
		t.Errorf("over the limit: err = %v, want ErrTooLarge", err)
	}
}
