//go:build darwin

package macos

import (
	"context"

	"github.com/anchorwatch/anchorwatch/stores"
)

func init() {
	stores.Register(stores.Adapter{Kind: stores.KindMacOS, Discover: Discover})
}

// Discover returns the System keychain store of the running Mac. Under a
// --root other than "/" it is listed with a note: security(1) works on the
// running system's trust settings only.
func Discover(ctx context.Context, env stores.Env) ([]stores.Store, error) {
	env = env.Normalize()
	s := New(env, ExecRunner{})
	if env.Root != "/" {
		s.note = "the System keychain trust settings belong to the running Mac; --root does not apply to them"
	}
	return []stores.Store{s}, nil
}
