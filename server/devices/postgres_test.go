package devices_test

import (
	"testing"

	"github.com/anchorwatch/anchorwatch/server/devices"
	"github.com/anchorwatch/anchorwatch/server/servertest"
)

// TestMatchingPostgres runs the matching test of devices_test.go on a real
// PostgreSQL server.
func TestMatchingPostgres(t *testing.T) {
	st, d := devices.OpenURL(t, servertest.StartPostgres(t))
	devices.TestMatchingOn(t, st, d)
}
