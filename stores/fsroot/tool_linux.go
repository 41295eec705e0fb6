//go:build linux

package fsroot

import "syscall"

// dieWithParent makes the kernel kill the tool if we die first.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
