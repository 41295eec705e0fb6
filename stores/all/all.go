// Package all imports every store adapter built for the current platform,
// so each registers itself with package stores.
package all

import (
	_ "github.com/anchorwatch/anchorwatch/stores/java"
	_ "github.com/anchorwatch/anchorwatch/stores/nss"
	_ "github.com/anchorwatch/anchorwatch/stores/system"
)
