//go:build !unix

package pkcs11

import (
	"errors"
	"os"
)

func checkOwner(string, int) error {
	return errors.New("module ownership cannot be checked on this platform")
}

func openPINFile(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, errors.New(path + " is not a regular file")
	}
	return f, nil
}
