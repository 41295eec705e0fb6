package git

import "github.com/anchorwatch/anchorwatch/stores"

func init() {
	stores.Register(stores.Adapter{Kind: stores.KindGit, Discover: Discover})
}
