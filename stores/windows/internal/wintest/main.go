// Command wintest is the Windows test program the Wine tests run
// (stores/windows/wine_test.go). It drives the windows adapter and, for
// independent checks, crypt32 directly. Test bed only: it is not shipped.
//
//	wintest list NAME            adapter List, JSON
//	wintest raw NAME             bare crypt32 enumeration of LocalMachine\NAME, JSON SHA-256s
//	wintest install NAME FILE    adapter Install of the CA file, JSON changes
//	wintest remove NAME SHA256   adapter Remove, JSON changes
//	wintest notify NAME FILE     wait for two notifier signals caused by adding/removing FILE
//	wintest distrust NAME FILE   adapter Distrust, JSON changes
//	wintest undistrust NAME SHA256
//	wintest distrusted NAME      adapter Distrusted, JSON
//	wintest eku NAME FILE        crypt32 alone: the EKU of FILE's entry in LocalMachine\NAME, JSON
//	wintest blobeku HEX          crypt32 alone: the EKU of a serialized element (a registry Blob), JSON
//	wintest chain NAME FILE USAGE crypt32 alone: CertGetCertificateChain of the leaf FILE for an EKU OID, JSON
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "wintest:", err)
		os.Exit(1)
	}
}
