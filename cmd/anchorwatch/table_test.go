package main

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestTableFits: a table wider than its layout shortens identifiers in
// the middle and wraps the text column, every line within the width;
// --wide (layout.wide) prints every value whole.
func TestTableFits(t *testing.T) {
	tb := newTable(col("KIND"), idCol("PATH"), col("STATUS"), textCol("DETAIL"))
	long := "/home/alice/.mozilla/firefox/k3x9w2p1.default-release/cert9.db"
	text := strings.Repeat("the keystore password is wrong and nothing was written ", 3)
	tb.row("nss", long, "error", text)
	tb.row("system", "/etc/ssl/certs/ca-certificates.crt", "compliant", "")
	var b strings.Builder
	if err := tb.render(&b, layout{width: 80}); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if n := utf8.RuneCountInString(line); n > 80 {
			t.Errorf("line of %d columns: %q", n, line)
		}
	}
	out := b.String()
	if strings.Contains(out, long) || !strings.Contains(out, "…") || !strings.Contains(out, "cert9.db") {
		t.Errorf("the path is not shortened in the middle:\n%s", out)
	}
	if got := strings.Join(strings.Fields(out), " "); !strings.Contains(got, strings.Join(strings.Fields(text), " ")) {
		t.Errorf("the wrapped text lost words:\n%s", out)
	}
	b.Reset()
	if err := tb.render(&b, layout{width: 80, wide: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), long) || !strings.Contains(b.String(), strings.TrimSpace(text)) {
		t.Errorf("--wide shortened a value:\n%s", b.String())
	}
}

func TestShortenMiddleAndWrap(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghijklmnopqrstuvwxyz", 11, "abcd…uvwxyz"},
		{"äöüäöüäöüäöü", 5, "ä…äöü"},
	} {
		if got := shortenMiddle(tc.in, tc.n); got != tc.want || utf8.RuneCountInString(got) > max(tc.n, utf8.RuneCountInString(tc.in)) {
			t.Errorf("shortenMiddle(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
	in := "a sha256 77048096da009e3c4e0e722e2447554d26b986031b7e28d03881617543c0664e here"
	lines := wrapText(in, 30)
	for _, l := range lines {
		if utf8.RuneCountInString(l) > 30 {
			t.Errorf("wrapText: line %q longer than 30", l)
		}
	}
	if strings.ReplaceAll(strings.Join(lines, ""), " ", "") != strings.ReplaceAll(in, " ", "") || len(lines) != 4 {
		t.Errorf("wrapText lost or moved text: %q", lines)
	}
}

// oneLine joins the lines of fitted output and collapses its spaces, for
// tests that look for a phrase wherever the output wrapped it.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
