package policy

import (
	"encoding/json"
	"errors"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

func docJSON(t *testing.T, fields map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseValid(t *testing.T) {
	ca := testpki.NewCA(t, "Corp Root").Cert
	old := testpki.NewCA(t, "Corp Old Root").Cert
	after := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	data := docJSON(t, map[string]any{
		"//":     "a comment",
		"serial": 7,
		"anchors": []any{
			map[string]any{"pem": string(testpki.PEM(ca)), "stores": []string{"java", "nss"}, "//why": "new CA"},
			map[string]any{"pem": string(testpki.PEM(old)), "remove_after": after},
		},
		"remove":               []any{map[string]any{"sha256": strings.ToUpper(stores.SHA256(old)), "after": after, "reason": "rotated"}},
		"blocklist":            []any{map[string]any{"spki_sha256": strings.Repeat("ab", 32), "reason": "bad"}},
		"report_unknown_roots": true,
		"exemptions":           []any{map[string]any{"subnets": []string{"10.9.0.0/16"}, "macs": []string{"AA-BB-CC-DD-EE-FF"}, "reason": "guest"}},
		"heartbeat_interval":   "1m",
		"rescan_interval":      "30s",
		"java_passwords":       map[string]string{"/opt/app/truststore.jks": "s3cret"},
	})
	d, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if d.Serial != 7 || len(d.Anchors) != 2 || d.Anchors[0].Cert == nil || d.Anchors[0].Role != RoleRoot {
		t.Fatalf("unexpected document %+v", d)
	}
	if d.Remove[0].SHA256 != stores.SHA256(old) {
		t.Errorf("remove sha256 not normalized: %s", d.Remove[0].SHA256)
	}
	if d.Exemptions[0].MACs[0] != "aa:bb:cc:dd:ee:ff" {
		t.Errorf("mac not normalized: %s", d.Exemptions[0].MACs[0])
	}
	if d.Heartbeat() != time.Minute || d.Rescan() != 30*time.Second {
		t.Errorf("intervals %s %s", d.Heartbeat(), d.Rescan())
	}
	// Rotation: before the date both CAs go to java, only the new one is
	// scoped away from system; after it the old one is removed.
	before := after.Add(-time.Hour)
	if got := d.Wanted(stores.KindJava, before); len(got) != 2 {
		t.Errorf("before rotation java wants %d CAs, want 2", len(got))
	}
	if got := d.Wanted(stores.KindSystem, before); len(got) != 1 || !got[0].Equal(old) {
		t.Errorf("before rotation system wants %v, want the old CA only", got)
	}
	if got := d.Removals(before); len(got) != 0 {
		t.Errorf("before rotation removals %v", got)
	}
	if got := d.Wanted(stores.KindJava, after); len(got) != 1 || !got[0].Equal(ca) {
		t.Errorf("after rotation java wants %v, want the new CA", got)
	}
	if got := d.Removals(after); len(got) != 1 || got[0] != stores.SHA256(old) {
		t.Errorf("after rotation removals %v", got)
	}
	if !d.NextChange(before).Equal(after) || !d.NextChange(after).IsZero() {
		t.Errorf("NextChange %v / %v", d.NextChange(before), d.NextChange(after))
	}
	if got := d.ActiveCAs(before); len(got) != 2 {
		t.Errorf("before rotation %d active CAs, want 2", len(got))
	}
	if got := d.ActiveCAs(after); len(got) != 1 || !got[0].Equal(ca) {
		t.Errorf("after rotation active CAs %v, want the new CA only", got)
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	ca := testpki.NewCA(t, "Corp Root").Cert
	leaf, _ := testpki.SelfSigned(t, "server.example", testpki.Valid(time.Now().Add(-time.Hour), time.Now().Add(time.Hour)))
	good := func() map[string]any {
		return map[string]any{"serial": 1, "anchors": []any{map[string]any{"pem": string(testpki.PEM(ca))}}}
	}
	with := func(k string, v any) map[string]any {
		m := good()
		m[k] = v
		return m
	}
	tests := []struct {
		name string
		doc  any
		want string
	}{
		{"zero serial", with("serial", 0), "serial: must be a positive integer"},
		{"negative serial", with("serial", -3), "serial: must be a positive integer"},
		{"string serial", with("serial", "1"), "serial: JSON string"},
		{"no anchors", with("anchors", []any{}), "anchors: at least one CA"},
		{"leaf as anchor", with("anchors", []any{map[string]any{"pem": string(testpki.PEM(ca))}, map[string]any{"pem": string(testpki.PEM(leaf))}}), "anchors[1].pem: " + `"CN=server.example,O=Anchorwatch test": not a CA certificate`},
		{"empty pem", with("anchors", []any{map[string]any{"pem": ""}}), "anchors[0].pem: missing"},
		{"garbage pem", with("anchors", []any{map[string]any{"pem": "hello"}}), "anchors[0].pem: not PEM"},
		{"dup anchor", with("anchors", []any{map[string]any{"pem": string(testpki.PEM(ca))}, map[string]any{"pem": string(testpki.PEM(ca))}}), "anchors[1].pem: same certificate as anchors[0]"},
		{"bad store", with("anchors", []any{map[string]any{"pem": string(testpki.PEM(ca)), "stores": []string{"java", "chrome"}}}), `anchors[0].stores[1]: unknown store kind "chrome"`},
		{"bad role", with("anchors", []any{map[string]any{"pem": string(testpki.PEM(ca)), "role": "leaf"}}), `anchors[0].role: "leaf"`},
		{"root as intermediate", with("anchors", []any{map[string]any{"pem": string(testpki.PEM(ca)), "role": "intermediate"}}), "anchors[0].role: \"intermediate\" but"},
		{"bad remove", with("remove", []any{map[string]any{"sha256": "abc"}}), `remove[0].sha256: "abc" is not a SHA-256`},
		{"remove own anchor", with("remove", []any{map[string]any{"sha256": stores.SHA256(ca)}}), "remove[0].sha256: also installed by anchors[0]"},
		{"blocklist empty", with("blocklist", []any{map[string]any{"reason": "x"}}), "blocklist[0]: give sha256 or spki_sha256"},
		{"blocklist no reason", with("blocklist", []any{map[string]any{"sha256": strings.Repeat("0", 64)}}), "blocklist[0].reason: missing"},
		{"blocklist own anchor", with("blocklist", []any{map[string]any{"sha256": stores.SHA256(ca), "reason": "x"}}), "blocklist[0].sha256: blocks anchors[0]"},
		{"blocklist own key", with("blocklist", []any{map[string]any{"spki_sha256": stores.SPKIHash(ca), "reason": "x"}}), "blocklist[0].spki_sha256: blocks the key of anchors[0]"},
		{"exemption empty", with("exemptions", []any{map[string]any{"reason": "x"}}), "exemptions[0]: names no device"},
		{"exemption subnet", with("exemptions", []any{map[string]any{"subnets": []string{"10.0.0.0/33"}, "reason": "x"}}), `exemptions[0].subnets[0]: "10.0.0.0/33" is not a CIDR`},
		{"exemption mac", with("exemptions", []any{map[string]any{"macs": []string{"zz"}, "reason": "x"}}), `exemptions[0].macs[0]: "zz" is not a MAC`},
		{"exemption no reason", with("exemptions", []any{map[string]any{"hosts": []string{"h1"}}}), "exemptions[0].reason: missing"},
		{"exemption expires", with("exemptions", []any{map[string]any{"hosts": []string{"h1"}, "reason": "x", "expires": "tomorrow"}}), `exemptions[0].expires: "tomorrow" is not an RFC 3339 time`},
		{"remove after number", with("remove", []any{map[string]any{"sha256": strings.Repeat("1", 64), "after": 5}}), `remove[0].after: 5 is not an RFC 3339 time`},
		{"two certs", with("anchors", []any{map[string]any{"pem": string(testpki.PEM(ca)) + string(testpki.PEM(ca))}}), "anchors[0].pem: holds 2 certificates"},
		{"heartbeat short", with("heartbeat_interval", "1s"), "heartbeat_interval: 1s is outside"},
		{"heartbeat garbage", with("heartbeat_interval", "often"), `heartbeat_interval: "often" is not a duration`},
		{"rescan long", with("rescan_interval", "48h"), "rescan_interval: 48h0m0s is outside"},
		{"java relative", with("java_passwords", map[string]string{"cacerts": "x"}), `java_passwords["cacerts"]: not an absolute keystore path`},
		{"unknown field", with("serail", 2), `unknown field "serail"`},
		{"not an object", []any{1, 2}, "must be a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(docJSON(t, map[string]any{"x": 0}))
			if err == nil {
				t.Fatal("a document without serial and anchors parsed")
			}
			b, _ := json.Marshal(tt.doc)
			_, err = Parse(b)
			if err == nil {
				t.Fatalf("Parse accepted %s", b)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestParseRejectsMalformedInput(t *testing.T) {
	ca := testpki.NewCA(t, "Corp Root").Cert
	good := docJSON(t, map[string]any{"serial": 1, "anchors": []any{map[string]any{"pem": string(testpki.PEM(ca))}}})
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "EOF"},
		{"trailing", append(append([]byte{}, good...), []byte(` {"serial":2}`)...), "trailing data"},
		{"truncated", good[:len(good)/2], "unexpected EOF"},
		{"syntax", []byte(`{"serial": 1,}`), "JSON syntax error"},
		{"huge", append([]byte(`{"serial":1,"//":"`), append([]byte(strings.Repeat("a", MaxDocument)), []byte(`"}`)...)...), "over the"},
		{"deep", []byte(strings.Repeat("[", 20000) + strings.Repeat("]", 20000)), "exceeded max depth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := Parse(good); err != nil {
		t.Fatal(err)
	}
}

func TestExample(t *testing.T) {
	_, err := Parse(Example(nil))
	if err == nil || !strings.Contains(err.Error(), "anchors[0].pem") {
		t.Fatalf("the placeholder example must fail on anchors[0].pem, got %v", err)
	}
	ca := testpki.NewCA(t, "Corp Root").Cert
	ex := Example(ca)
	d, err := Parse(ex)
	if err != nil {
		t.Fatalf("example with a CA does not parse: %v\n%s", err, ex)
	}
	if d.Anchors[0].Cert.Equal(ca) == false || !d.ReportUnknownRoots || d.Heartbeat() != 5*time.Minute {
		t.Errorf("unexpected example document %+v", d)
	}
	// Every field of the schema is documented by a comment key.
	for _, f := range []string{"serial", "anchors", "remove", "blocklist", "report_unknown_roots", "exemptions", "heartbeat_interval", "rescan_interval", "java_passwords"} {
		if !strings.Contains(string(ex), `"//`+f+`"`) {
			t.Errorf("example does not document %s", f)
		}
	}
}

func TestExemptionMatches(t *testing.T) {
	e := Exemption{
		Hosts:   []string{"build-01", "*.guest.example"},
		Subnets: []string{"10.20.0.0/16", "2001:db8::/32"},
		MACs:    []string{"aa:bb:cc:dd:ee:ff"},
		Groups:  []string{"Admins"},
		Reason:  "test",
	}
	tests := []struct {
		dev  Device
		want bool
	}{
		{Device{Hostname: "BUILD-01."}, true},
		{Device{Hostname: "phone.guest.example"}, true},
		{Device{Hostname: "guest.example.com"}, false},
		{Device{IP: netip.MustParseAddr("10.20.3.4")}, true},
		{Device{IP: netip.MustParseAddr("::ffff:10.20.3.4")}, true},
		{Device{IP: netip.MustParseAddr("10.21.0.1")}, false},
		{Device{IP: netip.MustParseAddr("2001:db8::1")}, true},
		{Device{MAC: "AA-BB-CC-DD-EE-FF"}, true},
		{Device{MAC: "aa:bb:cc:dd:ee:00"}, false},
		{Device{Groups: []string{"users", "admins"}}, true},
		{Device{}, false},
	}
	for _, tt := range tests {
		if got := e.Matches(tt.dev); got != tt.want {
			t.Errorf("Matches(%+v) = %v, want %v", tt.dev, got, tt.want)
		}
	}
	exp := time.Now().Add(-time.Minute)
	e.Expires = &exp
	d := &Document{Exemptions: []Exemption{e}}
	if _, ok := d.Exempt(Device{Hostname: "build-01"}, time.Now()); ok {
		t.Error("an expired exemption still applies")
	}
}

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add(Example(nil))
	f.Add([]byte(`{"serial":1,"anchors":[{"pem":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			return
		}
		if d.Serial <= 0 || len(d.Anchors) == 0 {
			t.Fatalf("Parse accepted an invalid document: %+v", d)
		}
		for _, a := range d.Anchors {
			if a.Cert == nil {
				t.Fatal("accepted anchor without certificate")
			}
		}
		// Never trusted and distrusted at once.
		now := time.Now()
		for _, tg := range d.DistrustTargets(now) {
			for _, c := range d.Wanted(stores.KindJava, now) {
				if tg.MatchesCert(c) {
					t.Fatalf("%s distrusts a wanted CA", tg.Source)
				}
			}
		}
	})
}

// TestParseUnknownFieldTyped: an unknown key at any level is an
// *UnknownFieldError naming its path (decided by type, not by the
// decoder's message), comments and case-folded names as encoding/json
// takes them are not, and the error wraps ErrInvalid.
func TestParseUnknownFieldTyped(t *testing.T) {
	ca := testpki.NewCA(t, "Corp Root").Cert
	anchor := func(extra map[string]any) map[string]any {
		a := map[string]any{"pem": string(testpki.PEM(ca))}
		maps.Copy(a, extra)
		return a
	}
	doc := func(extra map[string]any, a map[string]any) map[string]any {
		d := map[string]any{"serial": 1, "anchors": []any{a}}
		maps.Copy(d, extra)
		return d
	}
	unknown := []struct {
		name  string
		doc   map[string]any
		field string
	}{
		{"top", doc(map[string]any{"serail": 2}, anchor(nil)), "serail"},
		{"anchor", doc(nil, anchor(map[string]any{"rol": "root"})), "anchors[0].rol"},
		{"exemption", doc(map[string]any{"exemptions": []any{map[string]any{"hosts": []string{"h"}, "reason": "x", "expire": "2030-01-01T00:00:00Z"}}}, anchor(nil)), "exemptions[0].expire"},
		{"bypass", doc(map[string]any{"do_not_decrypt": []any{map[string]any{"clients": []string{"10.0.0.1"}, "reason": "x", "kind": "vip"}}}, anchor(nil)), "do_not_decrypt[0].kind"},
		{"first sorted", doc(map[string]any{"zz": 1, "aa": 1}, anchor(nil)), "aa"},
	}
	for _, tt := range unknown {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := json.Marshal(tt.doc)
			_, err := Parse(b)
			var ue *UnknownFieldError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%s) = %v, want an *UnknownFieldError", b, err)
			}
			if ue.Field != tt.field || !errors.Is(err, ErrInvalid) {
				t.Errorf("field %q (ErrInvalid %v), want %q", ue.Field, errors.Is(err, ErrInvalid), tt.field)
			}
		})
	}
	known := map[string]map[string]any{
		"comments":    doc(map[string]any{"//": "note", "exemptions": []any{map[string]any{"//why": "lab", "hosts": []string{"h"}, "reason": "x"}}}, anchor(map[string]any{"// role": "x"})),
		"case folded": doc(map[string]any{"Report_Unknown_Roots": true}, anchor(map[string]any{"PEM": string(testpki.PEM(ca))})),
		"map keys":    doc(map[string]any{"java_passwords": map[string]string{"/opt/jdk/lib/security/cacerts": "x"}}, anchor(nil)),
		"times":       doc(map[string]any{"not_after": "2099-01-01T00:00:00Z"}, anchor(map[string]any{"remove_after": "2099-01-01T00:00:00Z"})),
	}
	for name, d := range known {
		t.Run(name, func(t *testing.T) {
			b, _ := json.Marshal(d)
			if _, err := Parse(b); err != nil {
				t.Fatalf("Parse(%s): %v", b, err)
			}
		})
	}
}
