package safefs

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// canBecomeUser reports whether becomeUser can work: always on Linux
// (as root it switches the thread; otherwise the kernel already checks
// our own identity).
func canBecomeUser() bool { return true }

// becomeUser makes the calling goroutine's OS thread act on the file
// system as uid:gid with no other groups. The thread stays locked and is
// discarded when the goroutine returns (LockOSThread without Unlock), so
// no other goroutine ever runs with the changed identity; the returned
// restore puts root's identity back first all the same (the main thread
// is parked rather than discarded when a locked goroutine ends on it). setfsuid,
// setfsgid and setgroups through the raw system call affect this thread
// only (Go's syscall.Setuid would change every thread). Dropping the
// filesystem uid from 0 also drops CAP_DAC_OVERRIDE and the other file
// capabilities from the thread's effective set.
func becomeUser(uid, gid int) (restore func(), err error) {
	if os.Geteuid() != 0 {
		return func() {}, nil
	}
	runtime.LockOSThread()
	groups, err := unix.Getgroups()
	if err != nil {
		return nil, fmt.Errorf("act as uid %d: getgroups: %w", uid, err)
	}
	restore = func() {
		unix.SetfsuidRetUid(0)
		unix.SetfsgidRetGid(0)
		unix.Setgroups(groups)
	}
	if err := unix.Setgroups([]int{gid}); err != nil {
		return nil, fmt.Errorf("act as uid %d: setgroups: %w", uid, err)
	}
	unix.SetfsgidRetGid(gid)
	unix.SetfsuidRetUid(uid)
	// setfsuid reports failure only by leaving the id unchanged: read it
	// back (an invalid id changes nothing and returns the current one).
	if cur, _ := unix.SetfsuidRetUid(-1); cur != uid {
		restore()
		return nil, fmt.Errorf("act as uid %d: setfsuid left the thread at uid %d", uid, cur)
	}
	if cur, _ := unix.SetfsgidRetGid(-1); cur != gid {
		restore()
		return nil, fmt.Errorf("act as uid %d: setfsgid left the thread at gid %d", uid, cur)
	}
	return restore, nil
}
