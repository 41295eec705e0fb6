//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// TestReadLimitedFilePipe: a pipe (what /dev/stdin or a process
// substitution names) is read too, and bounded though it has no size.
func TestReadLimitedFilePipe(t *testing.T) {
	for _, tc := range []struct {
		in      string
		tooLong bool
	}{{"1234", false}, {"123456", true}} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() { w.WriteString(tc.in); w.Close() }()
		data, err := readLimitedFile(fmt.Sprintf("/dev/fd/%d", r.Fd()), 5)
		r.Close()
		if tc.tooLong != errors.Is(err, fsroot.ErrTooLarge) || !tc.tooLong && string(data) != tc.in {
			t.Errorf("%q: %q, %v", tc.in, data, err)
		}
	}
}
