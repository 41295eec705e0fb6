// Package fsroot looks paths up under a root directory the way a chrooted
// process would (absolute symlinks stay inside the root) and writes files
// the way a trust store must be written: atomically, durably, keeping mode
// and owner, under an advisory lock.
//
// It also holds the primitives every adapter uses where a local user may
// have planted something (docs/security.md), one per concern:
//
//   - Open, OpenAt, ReadFile, ReadFileIn, ReadAll: open without following
//     a link and without blocking, check type, owner, links and size on
//     the open descriptor, read bounded;
//   - Restore: put back mode and owner with fchmod/fchown;
//   - Controller: who, besides root, can change what a path names;
//   - AsUser: do file work with another user's file-system identity, on
//     an OS thread of its own;
//   - Tool: run a program as a user, in its own process group, with a
//     deadline that kills the group.
package fsroot
