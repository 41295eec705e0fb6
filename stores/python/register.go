package python

import "github.com/anchorwatch/anchorwatch/stores"

func init() {
	stores.Register(stores.Adapter{Kind: stores.KindPython, Discover: Discover})
}
