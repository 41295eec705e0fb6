package proxy

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// TestReadSmallFileRefuses: the proxy's PKI files are read through
// fsroot.ReadFile: a link is not followed and a file over maxPKIFile is
// refused with the typed error, whatever its content.
func TestReadSmallFileRefuses(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.pem")
	if err := os.WriteFile(big, make([]byte, maxPKIFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readSmallFile(big); !errors.Is(err, fsroot.ErrTooLarge) {
		t.Errorf("over the limit: err = %v, want ErrTooLarge", err)
	}
	ok := filepath.Join(dir, "ok.pem")
	if err := os.WriteFile(ok, []byte("pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.pem")
	if err := os.Symlink(ok, link); err != nil {
		t.Fatal(err)
	}
	if _, err := readSmallFile(link); !errors.Is(err, fsroot.ErrSymlink) {
		t.Errorf("link: err = %v, want ErrSymlink", err)
	}
	if data, err := readSmallFile(ok); err != nil || string(data) != "pem" {
		t.Errorf("plain file: %q, %v", data, err)
	}
}
