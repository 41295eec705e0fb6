//go:build unix && !linux

package fsroot

// openBeneath is Linux's one-call walk; elsewhere openDir walks.
func openBeneath(int, string, string) (dirHandle, Scope, bool, error) {
	return dirHandle{}, Scope{}, false, nil
}
