//go:build unix && !linux

package fsroot

import "syscall"

func dieWithParent(*syscall.SysProcAttr) {}
