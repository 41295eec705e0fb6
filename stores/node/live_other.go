//go:build !windows

package node

import "github.com/anchorwatch/anchorwatch/stores"

// liveSources: on this platform every source is a file under the root.
func liveSources(stores.Env) []EnvSource { return nil }

// rootIsLiveWindows is false: only on Windows is "/" a drive.
func rootIsLiveWindows(stores.Env) bool { return false }
