package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestListCommandsFit80 runs the real binary: every list command prints
// lines of at most 80 columns (the default when $COLUMNS is unset), takes
// --json and prints JSON with it, and prints longer lines only under
// --wide where it has the flag.
func TestListCommandsFit80(t *testing.T) {
	rootOnlyTemp(t)
	bin := buildAnchorwatch(t)
	f := newCLIFixture(t)
	os.Unsetenv("COLUMNS")
	db := func(args ...string) []string { return append([]string{"collector", "--db", f.db}, args...) }
	host := func(args ...string) []string { return append(args, "--root", f.root) }
	for _, setup := range [][]string{
		host("install", "--ca", f.ca),
		db("loadgen", "--seed-hosts", "5"),
		db("secret", "add", "site-a-with-a-rather-long-name-for-the-enroll-secret"),
		db("token", "add", "ops-dashboard-read-only-token-for-the-night-shift", "--role", "viewer"),
		db("exemption", "add", "subnet", "10.50.0.0/16", "--reason", "guest Wi-Fi on every floor of the building, reimaged daily by the facilities team"),
		db("ingest", "--format", "csv", f.csv),
	} {
		if out, errOut, code := runBin(t, bin, setup...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", setup, code, out, errOut)
		}
	}
	for _, args := range [][]string{
		host("stores"),
		host("audit", "--ca", f.ca),
		host("inventory", "--ca", f.ca),
		host("install", "--dry-run", "--ca", f.ca),
		db("host", "list"),
		db("host", "list", "--all"),
		db("secret", "list"),
		db("token", "list"),
		db("exemption", "list"),
		{"policy", "show", "--signer", f.signer, f.signed},
		{"policy", "verify", "--signer", f.signer, f.signed},
		{"ca", "check", "--offline", "--ca", f.interCA, "--issuer", f.rootCA},
		{"proxy", "findings", "--access-log", f.squidLog, "--roots", f.ca},
	} {
		name := strings.Join(args, " ")
		out, errOut, code := runBin(t, bin, args...)
		if code > 1 {
			t.Errorf("%s: exit %d\n%s%s", name, code, out, errOut)
			continue
		}
		for _, line := range strings.Split(out, "\n") {
			if n := utf8.RuneCountInString(line); n > 80 {
				t.Errorf("%s: a line of %d columns:\n%s", name, n, line)
			}
		}
		jout, errOut, _ := runBin(t, bin, append(args, "--json")...)
		if !json.Valid([]byte(jout)) || strings.TrimSpace(jout) == "" {
			t.Errorf("%s --json: not JSON\n%s%s", name, jout, errOut)
		}
	}
	// --wide prints the values the fitted table shortened.
	narrow, _, _ := runBin(t, bin, db("secret", "list")...)
	wide, _, _ := runBin(t, bin, db("secret", "list", "--wide")...)
	if strings.Contains(narrow, "site-a-with-a-rather-long-name-for-the-enroll-secret") && !strings.Contains(narrow, "…") {
		t.Logf("secret list fits whole:\n%s", narrow)
	}
	if !strings.Contains(wide, "site-a-with-a-rather-long-name-for-the-enroll-secret") {
		t.Errorf("secret list --wide shortens the name:\n%s", wide)
	}
}
