package nss

import "testing"

// This Debian has NSS 3.87 (legacy trust objects) and Firefox ESR with
// its own NSS 3.125: both are found, the second only in a directory only
// root controls.
func TestFindLibs(t *testing.T) {
	l := findLibs()
	if l.system.minor == 0 || l.system.modern() {
		t.Fatalf("system NSS %v: want a version older than 3.%d", l.system, modernMinor)
	}
	if l.modern == nil || !l.modern.modern() || l.modern.dir == "" {
		t.Fatalf("modern NSS %v: want Firefox ESR's (install firefox-esr)", l.modern)
	}
	if _, ok := l.legacy(); !ok {
		t.Error("no NSS for legacy trust objects")
	}
	for in, want := range map[string]int{"x Version: NSS 3.87.1 y": 87, "Version: NSS 3.125.1 Basic ECC": 125} {
		if got, err := parseNSSVersion([]byte(in)); err != nil || got != want {
			t.Errorf("parseNSSVersion(%q) = %d, %v", in, got, err)
		}
	}
	if _, err := parseNSSVersion([]byte("NSS 3.87")); err == nil {
		t.Error("parsed a string without the Version mark")
	}
}
