package agent

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// TestLoadConfigTooLarge: the config is read through fsroot.ReadFile, so
// a file over maxConfig is refused with the typed error and a FIFO is
// refused rather than waited on.
func TestLoadConfigTooLarge(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, make([]byte, maxConfig+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(p); !errors.Is(err, fsroot.ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(link); !errors.Is(err, fsroot.ErrTooLarge) {
		t.Errorf("through a link: err = %v, want ErrTooLarge (links to root's files are followed)", err)
	}
}
