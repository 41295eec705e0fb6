package container

import "github.com/anchorwatch/anchorwatch/stores"

func init() {
	stores.Register(stores.Adapter{Kind: stores.KindContainer, Discover: Discover})
}
