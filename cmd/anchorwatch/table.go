package main

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/server/db"
)

// Every table the commands print goes through table: it fits the terminal
// (80 columns unless $COLUMNS says otherwise) by shortening identifiers in
// the middle ("nss:/home/alice/…/k3x9w2p1.default-release") and wrapping
// the free-text column onto continuation lines; --wide prints every value
// whole.

// colFit says how a column gives way when the table is too wide.
type colFit int

const (
	fitKeep   colFit = iota // never shortened: statuses, kinds, dates, counts
	fitMiddle               // identifiers, paths, fingerprints: "start…end"
	fitWrap                 // free text: wrapped onto continuation lines (last column)
)

// Minimum widths a shortened column keeps.
const (
	minMiddle = 12
	minWrap   = 24
	colGap    = 2
)

// column is one column of a table.
type column struct {
	head string
	fit  colFit
}

// table collects rows and prints them fitted to a width.
type table struct {
	cols []column
	rows [][]string
}

func newTable(cols ...column) *table { return &table{cols: cols} }

// col, idCol and textCol name a column of each kind.
func col(head string) column     { return column{head: head, fit: fitKeep} }
func idCol(head string) column   { return column{head: head, fit: fitMiddle} }
func textCol(head string) column { return column{head: head, fit: fitWrap} }

// row adds a row; missing cells are empty.
func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

// layout is how wide output may be: width columns, or no limit (wide).
type layout struct {
	width int
	wide  bool
}

// termLayout is the layout of a command: --wide when it has the flag and
// it is set, else $COLUMNS (when it is a number of at least 40) or 80.
func termLayout(cmd *cobra.Command) layout {
	l := layout{width: 80}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n >= 40 {
		l.width = n
	}
	if f := cmd.Flags().Lookup("wide"); f != nil && f.Value.String() == "true" {
		l.wide = true
	}
	return l
}

// addWideFlag gives a command that prints tables its --wide flag.
func addWideFlag(cmd *cobra.Command) {
	cmd.Flags().Bool("wide", false, "print every value whole (ids, paths, fingerprints), however wide the table gets")
}

// render writes the table fitted to l.
func (t *table) render(w io.Writer, l layout) error {
	widths := t.fit(l)
	var b strings.Builder
	for _, r := range append([][]string{t.heads()}, t.rows...) {
		t.writeRow(&b, r, widths, l.wide)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (t *table) heads() []string {
	h := make([]string, len(t.cols))
	for i, c := range t.cols {
		h[i] = c.head
	}
	return h
}

func cell(r []string, i int) string {
	if i < len(r) {
		return r[i]
	}
	return ""
}

// natural returns the width each column needs to show every value whole.
func (t *table) natural() []int {
	n := make([]int, len(t.cols))
	for _, r := range append([][]string{t.heads()}, t.rows...) {
		for i := range t.cols {
			n[i] = max(n[i], textWidth(cell(r, i)))
		}
	}
	return n
}

// fit returns the column widths: the natural ones when they fit (or the
// layout is wide); else the columns that may give way share what the
// others leave, the narrowest keeping their natural width.
func (t *table) fit(l layout) []int {
	widths := t.natural()
	total := colGap * (len(widths) - 1)
	for _, w := range widths {
		total += w
	}
	if l.wide || total <= l.width {
		return widths
	}
	avail := l.width - colGap*(len(widths)-1)
	var flex []int
	for i, c := range t.cols {
		if c.fit == fitKeep {
			avail -= widths[i]
		} else {
			flex = append(flex, i)
		}
	}
	// Water-filling: give each flexible column at most an equal share of
	// what is left, narrowest first, so a short column keeps all it needs.
	sortByWidth(flex, widths)
	for k, i := range flex {
		share := avail / (len(flex) - k)
		widths[i] = max(min(widths[i], share), t.minWidth(i))
		avail -= widths[i]
	}
	return widths
}

// minWidth is the narrowest column i may become (its heading stays whole).
func (t *table) minWidth(i int) int {
	m := minMiddle
	if t.cols[i].fit == fitWrap {
		m = minWrap
	}
	return max(m, textWidth(t.cols[i].head))
}

func sortByWidth(idx, widths []int) {
	for a := 1; a < len(idx); a++ {
		for b := a; b > 0 && widths[idx[b]] < widths[idx[b-1]]; b-- {
			idx[b], idx[b-1] = idx[b-1], idx[b]
		}
	}
}

// writeRow writes one row, and the continuation lines of a wrapped cell.
func (t *table) writeRow(b *strings.Builder, r []string, widths []int, wide bool) {
	lines := [][]string{make([]string, len(t.cols))}
	for i, c := range t.cols {
		v := cell(r, i)
		switch {
		case wide:
			lines[0][i] = v
		case c.fit == fitMiddle:
			lines[0][i] = shortenMiddle(v, widths[i])
		case c.fit == fitWrap:
			for k, part := range wrapText(v, widths[i]) {
				for len(lines) <= k {
					lines = append(lines, make([]string, len(t.cols)))
				}
				lines[k][i] = part
			}
		default:
			lines[0][i] = v
		}
	}
	for _, line := range lines {
		last := len(line) - 1
		for last > 0 && line[last] == "" {
			last--
		}
		for i := 0; i <= last; i++ {
			b.WriteString(line[i])
			if i < last {
				b.WriteString(strings.Repeat(" ", widths[i]-textWidth(line[i])+colGap))
			}
		}
		b.WriteByte('\n')
	}
}

// textWidth is the width of s on a terminal (one column per rune).
func textWidth(s string) int { return utf8.RuneCountInString(s) }

// shortenMiddle fits s into n columns by replacing its middle with "…",
// keeping more of the end (a file name, the last digits of a hash).
func shortenMiddle(s string, n int) string {
	r := []rune(s)
	if len(r) <= n || n < 3 {
		return s
	}
	head := (n - 1) * 2 / 5
	tail := n - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

// wrapText breaks s into lines of at most n columns at spaces; a word
// longer than a line is cut.
func wrapText(s string, n int) []string {
	if textWidth(s) <= n || n <= 0 {
		return []string{s}
	}
	var lines []string
	var cur []rune
	for _, word := range strings.Fields(s) {
		wr := []rune(word)
		if len(cur) > 0 && len(cur)+1+len(wr) > n {
			lines = append(lines, string(cur))
			cur = nil
		}
		for len(wr) > n {
			if len(cur) > 0 {
				lines = append(lines, string(cur))
				cur = nil
			}
			lines = append(lines, string(wr[:n]))
			wr = wr[n:]
		}
		if len(cur) > 0 {
			cur = append(cur, ' ')
		}
		cur = append(cur, wr...)
	}
	if len(cur) > 0 || len(lines) == 0 {
		lines = append(lines, string(cur))
	}
	return lines
}

// printWrapped writes a line of prose wrapped to the layout's width: its
// own leading spaces are kept, its continuation lines indented by indent
// more. Under --wide it is written as it is.
func printWrapped(w io.Writer, l layout, indent int, s string) {
	for _, line := range fitLine(l, indent, s) {
		io.WriteString(w, line+"\n")
	}
}

// fitLine is printWrapped's lines.
func fitLine(l layout, indent int, s string) []string {
	if l.wide || textWidth(s) <= l.width {
		return []string{s}
	}
	body := strings.TrimLeft(s, " ")
	lead := strings.Repeat(" ", len(s)-len(body))
	first := wrapText(body, max(l.width-len(lead), 20))
	out := []string{lead + first[0]}
	more := lead + strings.Repeat(" ", indent)
	for _, line := range wrapText(strings.Join(first[1:], " "), max(l.width-len(more), 20)) {
		if line != "" {
			out = append(out, more+line)
		}
	}
	return out
}

// fitWriter passes what is written to w line by line, each fitted as
// printWrapped fits it (indent 2): for printers of prose and lists.
// Close writes a last line without a newline.
type fitWriter struct {
	w   io.Writer
	l   layout
	buf []byte
}

func newFitWriter(w io.Writer, l layout) *fitWriter { return &fitWriter{w: w, l: l} }

func (f *fitWriter) Write(p []byte) (int, error) {
	f.buf = append(f.buf, p...)
	for {
		i := bytes.IndexByte(f.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		printWrapped(f.w, f.l, 2, string(f.buf[:i]))
		f.buf = f.buf[i+1:]
	}
}

func (f *fitWriter) Close() error {
	if len(f.buf) > 0 {
		printWrapped(f.w, f.l, 2, string(f.buf))
		f.buf = nil
	}
	return nil
}

// printCommand writes a command line for the user to run, indented by two
// spaces; past the layout's width it continues on further lines with a
// trailing backslash, so it can still be pasted into a shell whole.
func printCommand(w io.Writer, l layout, args []string) {
	words := make([]string, len(args))
	for i, a := range args {
		words[i] = shellWord(a)
	}
	line := "  " + strings.Join(words, " ")
	if l.wide || textWidth(line) <= l.width {
		io.WriteString(w, line+"\n")
		return
	}
	cur := "  " + words[0]
	for _, word := range words[1:] {
		// A flag stays on the line of its value when they fit together.
		if textWidth(cur)+1+textWidth(word)+2 > l.width && cur != "    " {
			io.WriteString(w, cur+" \\\n")
			cur = "    "
		} else {
			cur += " "
		}
		cur += word
	}
	io.WriteString(w, cur+"\n")
}

// shellWord quotes s for a POSIX shell when it needs it.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:@=,+%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// addListFlags gives list commands --json and --wide: cmd itself, or its
// subcommands of the given names.
func addListFlags(cmd *cobra.Command, names ...string) {
	add := func(c *cobra.Command) {
		c.Flags().Bool("json", false, "print JSON")
		addWideFlag(c)
	}
	if len(names) == 0 {
		add(cmd)
	}
	for _, c := range cmd.Commands() {
		for _, n := range names {
			if c.Name() == n {
				add(c)
			}
		}
	}
}

// jsonFlag reports whether cmd has a --json flag and it is set.
func jsonFlag(cmd *cobra.Command) bool {
	f := cmd.Flags().Lookup("json")
	return f != nil && f.Value.String() == "true"
}

// credView is an enroll secret or API token in JSON (names only: the
// values are never stored).
type credView struct {
	Name      string    `json:"name"`
	Role      string    `json:"role,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

func credViews(cs []db.Credential) []credView {
	out := make([]credView, 0, len(cs))
	for _, c := range cs {
		out = append(out, credView{Name: c.Name, Role: c.Role, CreatedAt: c.CreatedAt.UTC(), RevokedAt: c.RevokedAt.UTC()})
	}
	return out
}
