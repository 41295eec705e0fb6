package policy

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

func anchorOf(c *x509.Certificate, extra ...any) map[string]any {
	m := map[string]any{"pem": string(testpki.PEM(c))}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

func TestDistrustTargets(t *testing.T) {
	ca := testpki.NewCA(t, "Corp Root 2").Cert
	leaked := testpki.NewCA(t, "Corp Root 1")
	reissued := testpki.NewCA(t, "Corp Root 1 reissued", testpki.Key(leaked.Key)).Cert
	retired := testpki.NewCA(t, "Corp Old Root").Cert
	public := testpki.NewCA(t, "Some Public Root").Cert
	at := time.Date(2031, 5, 6, 0, 0, 0, 0, time.UTC)
	d, err := Parse(docJSON(t, map[string]any{
		"serial": 3,
		"anchors": []any{
			anchorOf(ca),
			anchorOf(retired, "remove_after", at),
		},
		"distrust": []any{
			map[string]any{"pem": string(testpki.PEM(leaked.Cert)), "spki_sha256": strings.ToUpper(stores.SPKIHash(leaked.Cert)), "reason": "key leaked"},
			map[string]any{"pem": string(testpki.PEM(retired)), "after": at, "reason": "retired"},
			map[string]any{"sha256": stores.SHA256(public), "reason": "no longer accepted"},
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	before, after := at.Add(-time.Hour), at
	if got := d.DistrustTargets(before); len(got) != 2 || got[0].Cert == nil || got[1].Cert != nil || got[1].Source != "distrust[2]" {
		t.Fatalf("targets before the overlap ends: %+v", got)
	}
	tg := d.DistrustTargets(after)
	if len(tg) != 3 {
		t.Fatalf("targets after: %+v", tg)
	}
	// By key: the re-issue of the leaked key is distrusted too.
	if !tg[0].MatchesCert(leaked.Cert) || !tg[0].MatchesCert(reissued) || tg[0].MatchesCert(ca) {
		t.Error("distrust[0] must match the leaked CA and every certificate of its key, and nothing else")
	}
	if !tg[2].Matches(stores.SHA256(public), "") || tg[2].MatchesCert(ca) {
		t.Error("distrust[2] by hash")
	}
	// The retired anchor is wanted until the overlap ends, then neither
	// wanted nor active.
	if got := d.Wanted(stores.KindJava, before); len(got) != 2 {
		t.Errorf("wanted before: %d", len(got))
	}
	if got := d.Wanted(stores.KindJava, after); len(got) != 1 || !got[0].Equal(ca) {
		t.Errorf("wanted after: %v", got)
	}
	if got := d.ActiveCAs(after); len(got) != 1 {
		t.Errorf("active after: %v", got)
	}
	if !d.NextChange(before).Equal(at) {
		t.Errorf("NextChange %v", d.NextChange(before))
	}
	w := d.Warnings()
	if len(w) != 1 || !strings.HasPrefix(w[0], "distrust[2]: named by hash only") {
		t.Errorf("warnings %q", w)
	}

	// enforce_blocklist makes every blocklisted root a target.
	d.EnforceBlocklist = true
	tg = d.DistrustTargets(after)
	if len(tg) != 3+len(BuiltinBlockedRoots()) || !strings.HasPrefix(tg[3].Source, "blocklist: Superfish") || tg[3].SPKI == "" {
		t.Errorf("enforced blocklist targets: %d, %+v", len(tg), tg[3])
	}
	if w := d.Warnings(); len(w) != 2 {
		t.Errorf("warnings with enforce_blocklist: %q", w)
	}
}

func TestDistrustErrorsNameTheField(t *testing.T) {
	ca := testpki.NewCA(t, "Corp Root").Cert
	other := testpki.NewCA(t, "Other Root").Cert
	sameKey := testpki.NewCA(t, "Corp Root reissued", testpki.Key(testpki.NewCA(t, "x").Key))
	leaf, _ := testpki.SelfSigned(t, "server.example")
	at := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	base := func(distrust ...any) map[string]any {
		return map[string]any{"serial": 1, "anchors": []any{anchorOf(ca)}, "distrust": distrust}
	}
	reissue := testpki.NewCA(t, "Corp Root 2", testpki.Key(sameKey.Key)).Cert
	tests := []struct {
		name string
		doc  map[string]any
		want string
	}{
		{"names nothing", base(map[string]any{"reason": "x"}), "distrust[0]: names no CA: give pem"},
		{"no reason", base(map[string]any{"sha256": stores.SHA256(other)}), "distrust[0].reason: missing"},
		{"not pem", base(map[string]any{"pem": "hello", "reason": "x"}), "distrust[0].pem: not PEM"},
		{"leaf", base(map[string]any{"pem": string(testpki.PEM(leaf)), "reason": "x"}), "distrust[0].pem: " + `"CN=server.example,O=Anchorwatch test": not a CA certificate`},
		{"two certs", base(map[string]any{"pem": string(testpki.PEM(other, ca)), "reason": "x"}), "distrust[0].pem: holds 2 certificates"},
		{"bad sha", base(map[string]any{"sha256": "abc", "reason": "x"}), `distrust[0].sha256: "abc" is not a SHA-256`},
		{"bad spki", base(map[string]any{"spki_sha256": "zz", "reason": "x"}), `distrust[0].spki_sha256: "zz" is not a SHA-256`},
		{"sha not of pem", base(map[string]any{"pem": string(testpki.PEM(other)), "sha256": stores.SHA256(ca), "reason": "x"}), "distrust[0].sha256: is not the fingerprint of pem"},
		{"spki not of pem", base(map[string]any{"pem": string(testpki.PEM(other)), "spki_sha256": stores.SPKIHash(ca), "reason": "x"}), "distrust[0].spki_sha256: is not the key of pem"},
		{"twice", base(map[string]any{"pem": string(testpki.PEM(other)), "reason": "x"}, map[string]any{"sha256": stores.SHA256(other), "reason": "y"}), "distrust[1]: same certificate as distrust[0]"},
		{"bad after", base(map[string]any{"sha256": stores.SHA256(other), "reason": "x", "after": "soon"}), `distrust[0].after: "soon" is not an RFC 3339 time`},
		{"anchor distrusted", base(map[string]any{"pem": string(testpki.PEM(ca)), "reason": "x"}), `distrust[0]: distrusts anchors[0] ("Corp Root"), which the policy installs: a CA cannot be both trusted and distrusted`},
		{"anchor by hash", base(map[string]any{"sha256": stores.SHA256(ca), "reason": "x"}), `distrust[0]: distrusts anchors[0]`},
		{"anchor key", map[string]any{"serial": 1, "anchors": []any{anchorOf(reissue)}, "distrust": []any{map[string]any{"spki_sha256": stores.SPKIHash(sameKey.Cert), "reason": "leak"}}},
			`distrust[0]: distrusts the key of anchors[0] ("Corp Root 2"): every certificate of a distrusted key is distrusted; make the new CA with a new key`},
		{"after but anchor forever", base(map[string]any{"pem": string(testpki.PEM(ca)), "reason": "x", "after": at}), "Planned rotation: give anchors[0].remove_after and distrust[0].after no earlier"},
		{"distrust before the anchor ends", map[string]any{"serial": 1, "anchors": []any{anchorOf(ca, "remove_after", at.Add(time.Hour))},
			"distrust": []any{map[string]any{"pem": string(testpki.PEM(ca)), "reason": "x", "after": at}}}, "distrust[0]: distrusts anchors[0]"},
		{"bad next signer", map[string]any{"serial": 1, "anchors": []any{anchorOf(ca)}, "next_signers": []string{"nope"}}, "next_signers[0]: want exactly one PEM CERTIFICATE block, found 0"},
		{"anchor as next signer", map[string]any{"serial": 1, "anchors": []any{anchorOf(ca)}, "next_signers": []string{string(testpki.PEM(ca))}}, "next_signers[0]: is anchors[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(docJSON(t, tt.doc))
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse: %v\nwant %q", err, tt.want)
			}
		})
	}
	// The planned rotation passes: trusted until at, distrusted from at.
	for _, end := range []map[string]any{
		{"serial": 1, "anchors": []any{anchorOf(other), anchorOf(ca, "remove_after", at)}},
		{"serial": 1, "anchors": []any{anchorOf(other), anchorOf(ca)}, "remove": []any{map[string]any{"sha256": stores.SHA256(ca), "after": at.Add(-time.Hour)}}},
	} {
		end["distrust"] = []any{map[string]any{"pem": string(testpki.PEM(ca)), "reason": "retired", "after": at}}
		if _, err := Parse(docJSON(t, end)); err != nil {
			t.Errorf("planned rotation refused: %v", err)
		}
	}
}

func TestRotate(t *testing.T) {
	old := testpki.NewCA(t, "Corp Root 1").Cert
	next := testpki.NewCA(t, "Corp Root 2").Cert
	keep := testpki.NewCA(t, "Corp Partner Root").Cert
	cur, err := Parse(docJSON(t, map[string]any{
		"serial": 41, "not_after": "2031-01-01T00:00:00Z",
		"anchors":            []any{anchorOf(keep), anchorOf(old, "stores", []string{"java", "nss"})},
		"remove":             []any{map[string]any{"sha256": stores.SHA256(old), "after": "2031-01-01T00:00:00Z"}},
		"heartbeat_interval": "2m",
	}))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("emergency", func(t *testing.T) {
		out, err := Rotate(cur, RotateOptions{From: old, To: next})
		if err != nil {
			t.Fatal(err)
		}
		d, err := Parse(out)
		if err != nil {
			t.Fatal(err)
		}
		if d.Serial != 42 || d.NotAfter != nil || d.Heartbeat() != 2*time.Minute || len(d.Remove) != 0 {
			t.Errorf("serial %d, not_after %v, heartbeat %s, remove %v", d.Serial, d.NotAfter, d.Heartbeat(), d.Remove)
		}
		if len(d.Anchors) != 2 || !d.Anchors[0].Cert.Equal(keep) || !d.Anchors[1].Cert.Equal(next) || strings.Join(kinds(d.Anchors[1].Stores), ",") != "java,nss" {
			t.Fatalf("anchors: %+v", d.Anchors)
		}
		now := time.Now()
		tg := d.DistrustTargets(now)
		if len(tg) != 1 || !tg[0].MatchesCert(old) || tg[0].SPKI != stores.SPKIHash(old) || !strings.HasPrefix(tg[0].Reason, "compromised") {
			t.Fatalf("distrust: %+v", tg)
		}
		if got := d.Wanted(stores.KindJava, now); len(got) != 2 {
			t.Errorf("wanted %v", got)
		}
	})

	t.Run("planned", func(t *testing.T) {
		end := time.Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Second)
		out, err := Rotate(cur, RotateOptions{From: old, To: next, Overlap: end, Serial: 50})
		if err != nil {
			t.Fatal(err)
		}
		d, err := Parse(out)
		if err != nil {
			t.Fatal(err)
		}
		if d.Serial != 50 || len(d.Anchors) != 3 || !d.Anchors[1].Cert.Equal(old) || !d.Anchors[1].RemoveAfter.Equal(end) || !d.Anchors[2].Cert.Equal(next) {
			t.Fatalf("anchors: %+v", d.Anchors)
		}
		if len(d.DistrustTargets(end.Add(-time.Second))) != 0 {
			t.Error("distrusted before the overlap ends")
		}
		if tg := d.DistrustTargets(end); len(tg) != 1 || tg[0].SPKI != "" || !strings.HasPrefix(tg[0].Reason, "retired") {
			t.Errorf("distrust after the overlap: %+v", tg)
		}
		if got := d.Wanted(stores.KindJava, end.Add(-time.Second)); len(got) != 3 {
			t.Errorf("wanted during the overlap: %d", len(got))
		}
		if got := d.Wanted(stores.KindJava, end); len(got) != 2 {
			t.Errorf("wanted after the overlap: %d", len(got))
		}
	})

	t.Run("fresh", func(t *testing.T) {
		if _, err := Rotate(nil, RotateOptions{From: old, To: next}); err == nil || !strings.Contains(err.Error(), "give --serial") {
			t.Fatalf("fresh without serial: %v", err)
		}
		out, err := Rotate(nil, RotateOptions{From: old, To: next, Serial: 7})
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil || m["serial"].(float64) != 7 || len(m["anchors"].([]any)) != 1 || len(m["distrust"].([]any)) != 1 {
			t.Fatalf("fresh rotation: %s (%v)", out, err)
		}
	})

	t.Run("refused", func(t *testing.T) {
		sameKey := testpki.NewCA(t, "k")
		a := testpki.NewCA(t, "A", testpki.Key(sameKey.Key)).Cert
		leaf, _ := testpki.SelfSigned(t, "leaf")
		for _, tt := range []struct {
			opt  RotateOptions
			want string
		}{
			{RotateOptions{From: old, To: old}, "same certificate"},
			{RotateOptions{From: sameKey.Cert, To: a}, "uses the key of --from"},
			{RotateOptions{From: old, To: leaf}, "not a CA"},
			{RotateOptions{From: old, To: next, Overlap: time.Now().Add(-time.Hour)}, "not in the future"},
			{RotateOptions{From: old, To: next, Serial: 41}, "not above the current policy's 41"},
		} {
			if _, err := Rotate(cur, tt.opt); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Rotate: %v, want %q", err, tt.want)
			}
		}
	})
}

func kinds(ks []stores.Kind) []string {
	var out []string
	for _, k := range ks {
		out = append(out, string(k))
	}
	return out
}
