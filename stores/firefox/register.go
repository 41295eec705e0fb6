package firefox

import "github.com/anchorwatch/anchorwatch/stores"

func init() {
	stores.Register(stores.Adapter{Kind: stores.KindFirefox, Discover: discover})
}
