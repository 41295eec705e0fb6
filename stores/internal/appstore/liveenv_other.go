//go:build !windows

package appstore

import "github.com/anchorwatch/anchorwatch/stores"

// liveEnv adds what only the running host can say: nothing here (the
// files SystemEnv reads are the whole story).
func liveEnv(stores.Env) []EnvVar { return nil }
