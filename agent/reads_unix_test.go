//go:build unix

package agent

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/anchorwatch/anchorwatch/api/client"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// TestAgentReadsBounded: every file the agent reads besides the spool
// (node key, cached policy, status, host id, machine id, collector CA) is
// read with a size bound and without blocking: a 1 GiB file (sparse) in
// its place is refused at once, without reading it, and a FIFO does not
// hang the agent.
func TestAgentReadsBounded(t *testing.T) {
	state, root := t.TempDir(), t.TempDir()
	huge := func(p string) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(1 << 30); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, n := range []string{fileNodeKey, filePolicy, fileStatus, "host-id"} {
		huge(filepath.Join(state, n))
	}
	huge(filepath.Join(root, "etc/machine-id"))
	if err := os.MkdirAll(filepath.Join(root, "var/lib/dbus"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "var/lib/dbus/machine-id"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := huge(filepath.Join(t.TempDir(), "collector-ca.pem"))

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := &stateDir{dir: state}
	if k := s.nodeKey(); k != "" {
		t.Errorf("node key from a 1 GiB file: %d bytes", len(k))
	}
	if _, err := s.policyBlob(); !errors.Is(err, fsroot.ErrTooLarge) {
		t.Errorf("cached policy of 1 GiB: %v, want ErrTooLarge", err)
	}
	if _, err := ReadStatus(state); !errors.Is(err, fsroot.ErrTooLarge) {
		t.Errorf("status of 1 GiB: %v, want ErrTooLarge", err)
	}
	if _, err := client.New(client.Config{URL: "https://127.0.0.1:1", CAFile: ca}); !errors.Is(err, fsroot.ErrTooLarge) {
		t.Errorf("collector CA of 1 GiB: %v, want ErrTooLarge", err)
	}
	// The machine ids are refused; the agent makes a host id of its own
	// in place of the junk one.
	id := machineID(root, state)
	if b, err := hex.DecodeString(id); err != nil || len(b) != 16 {
		t.Errorf("host id %q, want a new 16-byte id", id)
	}
	if got := machineID(root, state); got != id {
		t.Errorf("host id changed from %q to %q", id, got)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("reading the junk files allocated %d MiB", grew>>20)
	}
}
