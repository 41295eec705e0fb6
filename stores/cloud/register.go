package cloud

import "github.com/anchorwatch/anchorwatch/stores"

func init() {
	stores.Register(stores.Adapter{Kind: stores.KindCloud, Discover: Discover})
}
