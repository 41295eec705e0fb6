//go:build unix

package fsroot

import (
	"os"
	"os/exec"
	"syscall"
)

// prepare puts the tool in a session of its own (so it is also the
// leader of a new process group), drops to t.User when we are root, and
// makes a cancelled run kill the whole group.
func prepare(cmd *exec.Cmd, t Tool) {
	attr := &syscall.SysProcAttr{Setsid: true, Chroot: t.Chroot}
	if t.User != nil && t.User.UID > 0 && os.Geteuid() == 0 {
		gid := t.User.GID
		if gid < 0 {
			gid = t.User.UID
		}
		attr.Credential = &syscall.Credential{Uid: uint32(t.User.UID), Gid: uint32(gid), Groups: []uint32{}}
	}
	dieWithParent(attr)
	cmd.SysProcAttr = attr
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		// The tool leads its own process group: take everything it started.
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
}
