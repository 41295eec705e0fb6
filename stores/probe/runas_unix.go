//go:build unix

package probe

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// runAs makes cmd run in its own session and, for a runtime in a user's
// directory, as that user: root never runs a program a user can change.
// Without root, a runtime of another user is not run.
func runAs(cmd *exec.Cmd, uid, gid int) error {
	attr := &syscall.SysProcAttr{Setsid: true}
	cmd.SysProcAttr = attr
	if uid < 0 {
		return nil
	}
	switch os.Geteuid() {
	case 0:
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
	case uid:
	default:
		return fmt.Errorf("not run: it belongs to uid %d (run the probe as that user, or as root)", uid)
	}
	return nil
}
