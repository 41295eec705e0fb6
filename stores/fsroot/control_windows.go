//go:build windows

package fsroot

// Control says who, besides the administrators, can change what a path
// names; see the Unix version. On Windows ACLs decide, and Controller
// reports only administrators (UID 0).
type Control struct {
	UID, GID int
	By       string
}

// Controller reports Control{} on Windows: directories there are
// protected by ACLs the installer sets.
func Controller(string) (Control, error) { return Control{}, nil }
