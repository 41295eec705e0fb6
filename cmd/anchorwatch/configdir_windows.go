//go:build windows

package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// secureConfigDir makes dir if needed and gives it, and everything under
// it, to the Administrators group with a protected DACL that grants full
// control to SYSTEM and Administrators only (inherited by what is created
// in it later: the agent's state). ProgramData lets every user create
// folders, so a user could have made dir first: taking ownership and
// replacing the DACL removes their access; a link or junction anywhere
// in the tree is refused. The MSI cannot express this itself (wixl writes
// no LockPermissions table), so its configure custom action does it, as
// LocalSystem, before the service first starts.
func secureConfigDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := refuseLink(dir); err != nil {
		return err
	}
	acl, admins, err := configDirACL()
	if err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&(fs.ModeSymlink|fs.ModeIrregular) != 0 {
			return fmt.Errorf("%s is a link or junction: remove it and install again", path)
		}
		err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
			windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION,
			admins, nil, acl, nil)
		if err != nil {
			return fmt.Errorf("restrict %s to SYSTEM and Administrators: %w", path, err)
		}
		return nil
	})
}

// fileAllAccess is FILE_ALL_ACCESS (full control of a file or folder);
// GENERIC_ALL would be stored unmapped in an inheritable entry.
const fileAllAccess = windows.STANDARD_RIGHTS_REQUIRED | windows.SYNCHRONIZE | 0x1ff

// configDirACL is the DACL of the config directory: full control for
// SYSTEM and Administrators, inherited by files and folders.
func configDirACL() (*windows.ACL, *windows.SID, error) {
	system, err := windows.CreateWellKnownSid(windows.WinLocalSystemSid)
	if err != nil {
		return nil, nil, err
	}
	admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	if err != nil {
		return nil, nil, err
	}
	var entries []windows.EXPLICIT_ACCESS
	for _, sid := range []*windows.SID{system, admins} {
		entries = append(entries, windows.EXPLICIT_ACCESS{
			AccessPermissions: fileAllAccess,
			AccessMode:        windows.SET_ACCESS,
			Inheritance:       windows.SUB_CONTAINERS_AND_OBJECTS_INHERIT,
			Trustee: windows.TRUSTEE{
				TrusteeForm:  windows.TRUSTEE_IS_SID,
				TrusteeType:  windows.TRUSTEE_IS_WELL_KNOWN_GROUP,
				TrusteeValue: windows.TrusteeValueFromSID(sid),
			},
		})
	}
	acl, err := windows.ACLFromEntries(entries, nil)
	return acl, admins, err
}
