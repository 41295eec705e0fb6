// Package safefs reads and replaces files below a root directory the way
// an agent running as root must when a user may control the directory:
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
//   - in a directory a user owns, the write runs as that user: on Linux the
//     goroutine locks its OS thread and sets the thread's filesystem uid,
//     gid and groups (setfsuid/setfsgid/setgroups act on one thread only),
//     and the thread is discarded afterwards. On platforms without a
//     per-thread identity a privileged write in a user's directory is
//     refused (ErrUserTree) with a message naming the user to run as;
//   - every operation runs under a deadline (the context's, or 20 s).
//
// The scope of a path is decided by the directory holding the file, reached
// through the walk: a user-owned directory is that user's, a directory
// writable by everyone, or by a group other than root's when root owns it,
// is refused for writes (ErrUnsafeDir).
//
// This package belongs in stores/fsroot; it lives here until the stores
// hardening lands, and the application-store adapters (stores/python,
// stores/node, …) are its only users.
package safefs
