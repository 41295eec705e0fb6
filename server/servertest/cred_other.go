//go:build !unix

package servertest

import "os/exec"

// credential is unused where os.Geteuid reports -1 (Windows).
type credential struct{ uid, gid int }

func runAs(*exec.Cmd, *credential) {}
