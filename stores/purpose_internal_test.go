package stores

import (
	"slices"
	"testing"
)

func TestBeyondServerAuth(t *testing.T) {
	for _, tt := range []struct {
		purposes []Purpose
		want     []Purpose
	}{
		{nil, nil},
		{[]Purpose{PurposeServerAuth}, nil},
		{[]Purpose{PurposeServerAuth, PurposeEmailProtection, PurposeCodeSigning}, []Purpose{PurposeEmailProtection, PurposeCodeSigning}},
		{[]Purpose{PurposeAny}, []Purpose{PurposeAny}},
	} {
		if got := (Anchor{Purposes: tt.purposes}).BeyondServerAuth(); !slices.Equal(got, tt.want) {
			t.Errorf("%v: %v, want %v", tt.purposes, got, tt.want)
		}
	}
	seen := map[Status]bool{}
	for _, s := range Statuses() {
		if seen[s] {
			t.Errorf("%s listed twice", s)
		}
		seen[s] = true
	}
	for _, s := range []Status{StatusOvertrusted, StatusDistrustedPresent, StatusNeedsMDM, StatusError} {
		if !seen[s] {
			t.Errorf("Statuses lacks %s", s)
		}
	}
}
