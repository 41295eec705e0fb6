//go:build !pkcs11 || !(linux || darwin) || !(amd64 || arm64)

package pkcs11

import "fmt"

// supported: this build has no module loader (see the package comment).
const supported = false

func unsupported() error {
	return fmt.Errorf("%w: the anchorwatch binary is static so it runs on every host; "+
		"sign on a Linux or macOS machine with the signing build (make signer, or go build -tags pkcs11 ./cmd/anchorwatch)", ErrUnsupported)
}

func openToken(Config) (token, error) { return nil, unsupported() }
