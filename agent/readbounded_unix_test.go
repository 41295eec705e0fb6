//go:build unix

package agent

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

func TestLoadConfigFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.json")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(p); !errors.Is(err, fsroot.ErrNotRegular) {
		t.Errorf("err = %v, want ErrNotRegular", err)
	}
}
