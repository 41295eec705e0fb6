// Package fsroot looks paths up under a root directory the way a chrooted
// process would (absolute symlinks stay inside the root; Resolve, or
// ResolveChecked following only the links a LinkCheck accepts) and writes files
// the way a trust store must be written: atomically, durably, keeping mode
// and owner, under an advisory lock.
//
// It also holds the primitives every adapter uses where a local user may
// have planted something (docs/security.md), one per concern:
//
//   - Open, OpenAt, ReadFile, ReadFileIn, ReadAll: open without following
//     a link and without blocking, check type, owner, links and size on
//     the open descriptor, read bounded (ErrTooLarge beyond the bound);
//     ReadFile is the one bounded file read of the tree;
//   - Restore: put back mode and owner with fchmod/fchown;
//   - Controller: who, besides root, can change what a path names;
//   - AsUser: do file work with another user's file-system identity, on
//     an OS thread of its own;
//   - Tool: run a program as a user, in its own process group, with a
//     deadline that kills the group.
//
// ReadBeneath, Update, Remove and MkdirRoot (beneath.go) read and replace
// files below a root directory where a user may control the directory:
// the application stores (stores/python, stores/node, …) use them.
//
//   - every directory from the root down is opened one component at a time
//     without following a symbolic link (openat with O_NOFOLLOW), so a link
//     planted anywhere on the path is refused, never followed, and renames
//     of ancestors after the walk cannot redirect the operation;
//   - files are opened with O_NOFOLLOW|O_NONBLOCK (a FIFO never blocks us),
//     checked on the open descriptor (regular file, size, owner) and read
//     with a bound;
//   - a file is replaced atomically (temporary file, fsync, rename, fsync
//     of the directory) under an flock on its directory, and the update is
//     retried when another writer replaced the file meanwhile;
//   - in a directory a user owns, the write runs as that user (AsUser).
//     On platforms without a per-thread identity a privileged write in a
//     user's directory is refused (ErrUserTree) with a message naming the
//     user to run as;
//   - every operation runs under a deadline (the context's, or 20 s).
//
// The scope of a path is decided by the directory holding the file, reached
// through the walk: a user-owned directory is that user's, a directory
// writable by everyone, or by a group other than root's when root owns it,
// is refused for writes (ErrUnsafeDir).
package fsroot
