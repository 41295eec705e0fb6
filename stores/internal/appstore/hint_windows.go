package appstore

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

func readHint(hp string, max int64) ([]byte, error) {
	fi, err := os.Lstat(hp)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 || !fi.Mode().IsRegular() || fi.Size() > max {
		return nil, fmt.Errorf("%s: not a small regular file", hp)
	}
	f, err := os.Open(hp)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max))
}
