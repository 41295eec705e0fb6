//go:build !unix

package pkcs11

import (
	"errors"
	"io/fs"
	"os"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

func checkOwner(string, int) error {
	return errors.New("module ownership cannot be checked on this platform")
}

func openPINFile(path string) (*os.File, fs.FileInfo, error) {
	f, fi, err := fsroot.Open(path, fsroot.Want{Follow: true})
	if errors.Is(err, fsroot.ErrNotRegular) {
		return nil, nil, errors.New(path + " is not a regular file")
	}
	return f, fi, err
}
