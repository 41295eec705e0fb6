package policy

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// TestReadLimited: signer, key and CA files are read through
// fsroot.ReadAll on the one open descriptor (no second, unbounded read
// by path after the size check).
func TestReadLimited(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, make([]byte, 11), 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := readLimited(p, 11); err != nil || len(data) != 11 {
		t.Errorf("at the limit: %d bytes, %v", len(data), err)
	}
	if _, err := readLimited(p, 10); !errors.Is(err, fsroot.ErrTooLarge) {
		t.Errorf("over the limit: err = %v, want ErrTooLarge", err)
	}
	big := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(big, make([]byte, MaxCAInput+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCAFile(big); !errors.Is(err, fsroot.ErrTooLarge) {
		t.Errorf("CA file over MaxCAInput: err = %v, want ErrTooLarge", err)
	}
}
