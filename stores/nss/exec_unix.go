//go:build unix

package nss

import (
	"io/fs"
	"os"
	"os/exec"
	"syscall"
)

// asUser makes cmd run in a session of its own and, when we are root,
// as uid:gid, so the files certutil writes keep their owner and a user
// cannot trick a root process into writing through a symlink in their
// home.
func asUser(cmd *exec.Cmd, uid, gid int) {
	attr := &syscall.SysProcAttr{Setsid: true}
	if os.Geteuid() == 0 && uid > 0 && gid >= 0 {
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
	}
	cmd.SysProcAttr = attr
}

func ownerOf(fi fs.FileInfo) (uid, gid int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return -1, -1
}

func chownIfRoot(hp string, uid, gid int) error {
	if os.Geteuid() != 0 {
		return nil
	}
	return os.Lchown(hp, uid, gid)
}
