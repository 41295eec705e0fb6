//go:build !linux

package appstore

import "io/fs"

func listDir(hp string, max int) map[string]fs.FileMode { return listDirPortable(hp, max) }

func lmode(hp string) (fs.FileMode, bool) { return lmodePortable(hp) }
