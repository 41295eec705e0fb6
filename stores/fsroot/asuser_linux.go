//go:build linux

package fsroot

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// AsUser runs fn with the file-system identity of uid:gid and no
// supplementary groups, so every open, create, rename and remove fn does
// is checked as that user would be, and what it creates is theirs: the
// way root writes inside a tree a user controls. It does nothing special
// when uid is negative (unknown), 0, or we are not root (then there is no
// privilege to drop).
//
// fn runs on an OS thread of its own whose fsuid, fsgid and groups are
// changed with the per-thread system calls; the thread is never handed
// back to the Go scheduler and ends with fn, so no other goroutine ever
// runs with that identity or with root's after it. fn must do its file
// work on the goroutine it is called on.
func AsUser(uid, gid int, fn func() error) error {
	if uid <= 0 || os.Geteuid() != 0 {
		return fn()
	}
	if gid < 0 {
		gid = uid
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("as uid %d: panic: %v", uid, r)
			}
		}()
		if err := becomeUser(uid, gid); err != nil {
			done <- err
			return
		}
		err := fn()
		// The thread is about to end; give its file-system identity back
		// first, so that nothing (userdel, for one) sees a thread of ours
		// as the user's while it winds down.
		_, _ = unix.SetfsuidRetUid(0)
		_, _ = unix.SetfsgidRetGid(0)
		done <- err
	}()
	return <-done
}

// canBecomeUser reports whether AsUser can act as another user from
// here: always on Linux (as root it switches the thread; otherwise the
// kernel already checks our own identity).
func canBecomeUser() bool { return true }

func becomeUser(uid, gid int) error {
	if err := unix.Setgroups(nil); err != nil {
		return fmt.Errorf("as uid %d: drop groups: %w", uid, err)
	}
	if _, err := unix.SetfsgidRetGid(gid); err != nil {
		return fmt.Errorf("as uid %d: setfsgid: %w", uid, err)
	}
	if _, err := unix.SetfsuidRetUid(uid); err != nil {
		return fmt.Errorf("as uid %d: setfsuid: %w", uid, err)
	}
	// setfsuid and setfsgid report the previous value, not failure:
	// read the identity back.
	if got, _ := unix.SetfsuidRetUid(-1); got != uid {
		return fmt.Errorf("as uid %d: setfsuid did not take (fsuid %d)", uid, got)
	}
	if got, _ := unix.SetfsgidRetGid(-1); got != gid {
		return fmt.Errorf("as uid %d: setfsgid did not take (fsgid %d)", uid, got)
	}
	return nil
}
