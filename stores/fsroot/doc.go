// Package fsroot looks paths up under a root directory the way a chrooted
// process would (absolute symlinks stay inside the root) and writes files
// the way a trust store must be written: atomically, durably, keeping mode
// and owner, under an advisory lock.
package fsroot
