package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

func bypassDoc(t *testing.T, entries []any) []byte {
	t.Helper()
	ca := testpki.NewCA(t, "Corp Root").Cert
	return docJSON(t, map[string]any{
		"serial":         3,
		"anchors":        []any{map[string]any{"pem": string(testpki.PEM(ca))}},
		"do_not_decrypt": entries,
	})
}

func TestBypassParseAndNormalize(t *testing.T) {
	until := time.Date(2031, 6, 30, 0, 0, 0, 0, time.UTC)
	past := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	d, err := Parse(bypassDoc(t, []any{
		map[string]any{"destinations": []string{"Bank.Example.", "*.Health.example", "192.0.2.7", "2001:db8::/32"}, "reason": "banking and health", "expires": until},
		map[string]any{"clients": []string{"10.20.0.5", "10.30.0.0/16"}, "reason": "works council", "expires": until},
		map[string]any{"destinations": []string{"login.pinned.example"}, "clients": []string{"10.40.0.0/24"}, "reason": "pinned app", "expires": past},
	}))
	if err != nil {
		t.Fatal(err)
	}
	b := d.DoNotDecrypt
	if got := strings.Join(b[0].Destinations, " "); got != "bank.example *.health.example 192.0.2.7/32 2001:db8::/32" {
		t.Errorf("destinations normalized to %q", got)
	}
	if got := strings.Join(b[1].Clients, " "); got != "10.20.0.5/32 10.30.0.0/16" {
		t.Errorf("clients normalized to %q", got)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if act := d.ActiveBypasses(now); len(act) != 2 || act[1].Reason != "works council" {
		t.Errorf("active at %s: %+v (the expired pinned-app entry must be left out)", now, act)
	}
	if act := d.ActiveBypasses(until); len(act) != 0 {
		t.Errorf("active at the expiry: %+v", act)
	}
}

func TestBypassInvalid(t *testing.T) {
	until := time.Date(2031, 6, 30, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		entry map[string]any
		field string
	}{
		{map[string]any{"reason": "nothing", "expires": until}, "do_not_decrypt[0]: names nothing"},
		{map[string]any{"destinations": []string{"bank example"}, "reason": "x", "expires": until}, "do_not_decrypt[0].destinations[0]"},
		{map[string]any{"destinations": []string{"*.com"}, "reason": "x", "expires": until}, "whole top-level domain"},
		{map[string]any{"destinations": []string{"a.*.example"}, "reason": "x", "expires": until}, "destinations[0]"},
		{map[string]any{"destinations": []string{"evil.example\nssl_bump splice all"}, "reason": "x", "expires": until}, "destinations[0]"},
		{map[string]any{"clients": []string{"ws-7"}, "reason": "x", "expires": until}, "do_not_decrypt[0].clients[0]"},
		{map[string]any{"clients": []string{"10.0.0.1"}, "expires": until}, "do_not_decrypt[0].reason: missing"},
		{map[string]any{"clients": []string{"10.0.0.1"}, "reason": "line\nssl_bump splice all", "expires": until}, "printable characters on one line"},
		{map[string]any{"clients": []string{"10.0.0.1"}, "reason": "x"}, "do_not_decrypt[0].expires: missing"},
		{map[string]any{"clients": []string{"10.0.0.1"}, "reason": "x", "expires": "next year"}, "do_not_decrypt[0].expires"},
		{map[string]any{"clients": []string{"10.0.0.1"}, "reason": "x", "expires": until, "kind": "vip"}, "unknown field"},
	} {
		_, err := Parse(bypassDoc(t, []any{tt.entry}))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%v: error %v, want one naming %q", tt.entry, err, tt.field)
		}
	}
}

// TestBypassSignedRoundTrip: the list travels inside the signed policy and
// comes out of Verify as it went in.
func TestBypassSignedRoundTrip(t *testing.T) {
	until := time.Date(2031, 6, 30, 0, 0, 0, 0, time.UTC)
	doc := bypassDoc(t, []any{map[string]any{"destinations": []string{"*.bank.example"}, "reason": "banking", "expires": until}})
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	blob, err := Sign(doc, signer, key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Verify(blob, VerifyOptions{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	if b := v.Document.DoNotDecrypt; len(b) != 1 || b[0].Destinations[0] != "*.bank.example" || !b[0].Expires.Equal(until) {
		t.Errorf("signed list came back as %+v", b)
	}
}
