//go:build unix && !linux

package appstore

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

func readHint(hp string, max int64) ([]byte, error) {
	f, err := os.OpenFile(hp, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > max {
		return nil, fmt.Errorf("%s: not a small regular file", hp)
	}
	return io.ReadAll(io.LimitReader(f, max))
}
