//go:build linux

package system

import "github.com/anchorwatch/anchorwatch/stores"

func init() {
	stores.Register(stores.Adapter{Kind: stores.KindSystem, Discover: discover})
}
