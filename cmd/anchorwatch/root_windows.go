//go:build windows

package main

import (
	"path/filepath"

	"golang.org/x/sys/windows"
)

// defaultRoot is the --root of host commands and the agent when none is
// given: the drive Windows runs from (%SystemDrive%\, where Program Files
// lives). "/" would name the current drive: run from D:\tools it would
// scan D:\, and under Wine from Z:\ the Linux host's own files. The drive
// comes from the system directory, not from the environment.
func defaultRoot() string {
	if dir, err := windows.GetSystemDirectory(); err == nil {
		if vol := filepath.VolumeName(dir); len(vol) == 2 {
			return vol + `\`
		}
	}
	return `C:\`
}
