//go:build unix && !linux

package appstore

import "github.com/anchorwatch/anchorwatch/stores/fsroot"

func readHint(hp string, max int64) ([]byte, error) {
	return fsroot.ReadFile(hp, fsroot.Want{Max: max})
}
