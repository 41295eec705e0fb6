//go:build unix

package agent

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
)

func syscallMkfifo(p string) error { return syscall.Mkfifo(p, 0o600) }

// TestSpoolJunkFile: a 1 GiB file (sparse) in the spool is removed
// without being read (and pushes no report out of the bounds), the drop is
// reported, and the next report is delivered; a FIFO planted as a spool
// file does not block either.
func TestSpoolJunkFile(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSpool(dir, 10, 1<<30, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var drops []SpoolDrop
	s.OnDrop(func(d SpoolDrop) { drops = append(drops, d) })
	junk := filepath.Join(dir, fmt.Sprintf("%020d.json", 0))
	f, err := os.Create(junk)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := syscallMkfifo(filepath.Join(dir, fmt.Sprintf("%020d.json", 1))); err != nil {
		t.Fatal(err)
	}
	s.next = 2
	if err := s.Add(api.ReportRequest{ReportID: "good", Kind: api.ReportFull, Events: []api.Event{{ID: "e1", Type: api.EventRemoved}}}); err != nil {
		t.Fatal(err)
	}
	it, ok, err := s.Peek()
	if err != nil || !ok || it.Report.ReportID != "good" {
		t.Fatalf("peek: %+v %v %v", it.Report, ok, err)
	}
	if len(drops) != 1 || !strings.Contains(drops[0].Why, "removed unread") {
		t.Fatalf("drops: %+v", drops)
	}
	if _, err := os.Stat(junk); err == nil {
		t.Fatal("the junk file is still there")
	}
}
