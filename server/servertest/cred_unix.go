//go:build unix

package servertest

import (
	"os/exec"
	"syscall"
)

// credential is the user the PostgreSQL tools run as when the tests run
// as root (initdb refuses root).
type credential struct{ uid, gid int }

func runAs(cmd *exec.Cmd, c *credential) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(c.uid), Gid: uint32(c.gid)}}
}
