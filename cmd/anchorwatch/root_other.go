//go:build !windows

package main

// defaultRoot is the --root of host commands and the agent when none is
// given: the host's own filesystem.
func defaultRoot() string { return "/" }
