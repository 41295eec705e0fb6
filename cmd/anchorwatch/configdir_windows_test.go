//go:build windows

package main

import (
	"testing"

	"golang.org/x/sys/windows"
)

// TestConfigDirACL: the security descriptor secureConfigDir applies, as
// Windows' own SDDL converter writes it: owner Administrators, a
// protected DACL giving full control, inherited by files and folders, to
// SYSTEM and Administrators and to nobody else. Wine 8 runs this (see
// agent/winetest) but ignores the descriptor when it is set on a file, so
// the descriptor is checked here rather than read back from a directory.
func TestConfigDirACL(t *testing.T) {
	acl, admins, err := configDirACL()
	if err != nil {
		t.Fatal(err)
	}
	sd, err := windows.NewSecurityDescriptor()
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.SetOwner(admins, false); err != nil {
		t.Fatal(err)
	}
	if err := sd.SetDACL(acl, true, false); err != nil {
		t.Fatal(err)
	}
	if err := sd.SetControl(windows.SE_DACL_PROTECTED, windows.SE_DACL_PROTECTED); err != nil {
		t.Fatal(err)
	}
	if got, want := sd.String(), "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"; got != want {
		t.Errorf("config directory security descriptor %s, want %s", got, want)
	}
}
