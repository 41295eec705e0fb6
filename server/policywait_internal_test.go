package server

import (
	"testing"
	"time"
)

// TestSettle: reported tokens leave from the oldest, and tokens past
// their expiry leave whether reported or not.
func TestSettle(t *testing.T) {
	now := time.Now()
	at := func(ago ...time.Duration) []time.Time {
		var out []time.Time
		for _, a := range ago {
			out = append(out, now.Add(-a))
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		out      []time.Time
		reported int64
		want     int
	}{
		{"none reported, none expired", at(3*time.Second, 2*time.Second, time.Second), 0, 3},
		{"two reported", at(3*time.Second, 2*time.Second, time.Second), 2, 1},
		{"more reported than out", at(time.Second), 5, 0},
		{"oldest expired", at(9*time.Second, 6*time.Second, time.Second), 0, 1},
		{"reported and expired", at(9*time.Second, 2*time.Second, time.Second), 1, 2},
		{"empty", nil, 3, 0},
	} {
		if got := settle(tc.out, tc.reported, now.Add(-wakeExpiry)); len(got) != tc.want {
			t.Errorf("%s: %d left, want %d", tc.name, len(got), tc.want)
		}
	}
}
