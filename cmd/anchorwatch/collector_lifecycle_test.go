package main

import (
	"testing"
	"time"
)

// FuzzDaysFlag: the lifecycle flags' parser never panics, refuses
// negative values, and what it accepts prints back to the same value.
func FuzzDaysFlag(f *testing.F) {
	for _, s := range []string{"30d", "7d", "0", "12h", "90m", "1h30m", "-1h", "d", "99999d", "1.5d", "365d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d days
		if err := d.Set(s); err != nil {
			return
		}
		if time.Duration(d) < 0 {
			t.Fatalf("%q accepted as a negative duration %v", s, time.Duration(d))
		}
		var again days
		if err := again.Set(d.String()); err != nil || again != d {
			t.Fatalf("%q → %v prints as %q, which reads back as %v (%v)", s, time.Duration(d), d.String(), time.Duration(again), err)
		}
	})
}

func TestDaysFlag(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "12h": 12 * time.Hour, "0": 0, "1h30m": 90 * time.Minute} {
		var d days
		if err := d.Set(in); err != nil || time.Duration(d) != want {
			t.Errorf("%q: %v %v, want %v", in, time.Duration(d), err, want)
		}
	}
	for _, in := range []string{"-1d", "-1h", "soon", "1.5d", "d"} {
		var d days
		if err := d.Set(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
