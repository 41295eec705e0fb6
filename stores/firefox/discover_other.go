//go:build !linux && !darwin && !windows

package firefox

import (
	"context"

	"github.com/anchorwatch/anchorwatch/stores"
)

func discover(context.Context, stores.Env) ([]stores.Store, error) { return nil, nil }
