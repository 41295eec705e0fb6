package throttle

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func TestLimiterBackoff(t *testing.T) {
	l := New(Options{Free: 3, Base: time.Second, Max: 8 * time.Second, Forget: time.Hour})
	now := time.Unix(1000, 0)
	k := Keys("dashboard", netip.MustParseAddr("192.0.2.7"), "awt_secretprefix-and-more")
	var got []time.Duration
	for i := 0; i < 7; i++ {
		if w := l.Wait(now, k...); w != 0 && i < 3 {
			t.Fatalf("failure %d: refused for %s within the free failures", i, w)
		}
		l.Fail(now, k...)
		got = append(got, l.Wait(now, k...))
	}
	want := []time.Duration{0, 0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	l.Fail(now, k...)
	if w := l.Wait(now, k...); w != 8*time.Second {
		t.Errorf("capped wait %s, want 8s", w)
	}
	if w := l.Wait(now.Add(8*time.Second), k...); w != 0 {
		t.Errorf("after the delay: %s", w)
	}
	// Another source is not held back by the first; the same credential
	// prefix from another source is.
	if w := l.Wait(now, Keys("dashboard", netip.MustParseAddr("192.0.2.8"), "")...); w != 0 {
		t.Errorf("another source: %s", w)
	}
	if w := l.Wait(now, Keys("dashboard", netip.MustParseAddr("192.0.2.8"), "awt_secretprefix-other")...); w == 0 {
		t.Error("the same credential prefix from another source is not held back")
	}
	// Another scope is separate; a key is forgotten an hour after its
	// last failure.
	if w := l.Wait(now, Keys("enroll", netip.MustParseAddr("192.0.2.7"), "")...); w != 0 {
		t.Errorf("another scope: %s", w)
	}
	if w := l.Wait(now.Add(2*time.Hour), k...); w != 0 || l.Len() != 0 {
		t.Errorf("after Forget: wait %s, %d keys", w, l.Len())
	}
	if RetryAfter(1500*time.Millisecond) != "2" || RetryAfter(time.Millisecond) != "1" {
		t.Error("Retry-After rounds up to whole seconds, at least 1")
	}
}

// TestLimiterBoundedMemory: a flood of distinct sources keeps at most
// Keys entries, and the ones failing most recently are kept.
func TestLimiterBoundedMemory(t *testing.T) {
	l := New(Options{Free: 1, Keys: 100})
	now := time.Unix(1000, 0)
	hot := Keys("dashboard", netip.MustParseAddr("198.51.100.1"), "")
	for i := 0; i < 10000; i++ {
		l.Fail(now, Keys("dashboard", netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), "")...)
		if i%10 == 0 {
			l.Fail(now, hot...)
		}
	}
	if n := l.Len(); n != 100 {
		t.Fatalf("%d keys kept, want 100", n)
	}
	if l.Wait(now, hot...) == 0 {
		t.Error("the source failing all along was evicted")
	}
}

func TestSource(t *testing.T) {
	proxy := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tt := range []struct{ remote, xff, want string }{
		{"192.0.2.1:5555", "", "192.0.2.1"},
		{"192.0.2.1:5555", "203.0.113.9", "192.0.2.1"}, // not a trusted proxy: XFF ignored
		{"10.1.2.3:5555", "198.51.100.1, 203.0.113.9", "203.0.113.9"},
		{"10.1.2.3:5555", "garbage", "10.1.2.3"},
		{"[2001:db8:1:2:3:4:5:6]:443", "", "2001:db8:1:2::"},
		{"[::ffff:192.0.2.1]:443", "", "192.0.2.1"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := Source(r, proxy).String(); got != tt.want {
			t.Errorf("Source(%s, XFF %q) = %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
}

func BenchmarkLimiterFail(b *testing.B) {
	l := New(Options{})
	now := time.Unix(1000, 0)
	for i := 0; b.Loop(); i++ {
		l.Fail(now, Keys("dashboard", netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), "awt_x")...)
	}
}
