//go:build windows

package fsroot

import "os/exec"

// prepare has nothing to set on Windows: exec.CommandContext kills the
// process; users are not switched.
func prepare(*exec.Cmd, Tool) {}
