package main

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/anchorwatch/anchorwatch/stores"
)

// docsDir is the repository's docs directory, seen from this package.
const docsDir = "../../docs"

// commandRow is a row of the command tables in docs/commands/README.md:
// | [`collector serve`](../collector.md#serve) | … |
var commandRow = regexp.MustCompile("(?m)^\\| \\[`([a-z0-9 -]+)`\\]\\(([^)#]*)(#[^)]*)?\\)")

// TestDocsNameEveryCommandAndFlag: every command cobra knows has a row in
// docs/commands/README.md, and every flag of it appears in the page the
// row links to (or in the README, which documents the host flags).
func TestDocsNameEveryCommandAndFlag(t *testing.T) {
	readme := readDoc(t, filepath.Join(docsDir, "commands", "README.md"))
	pages := map[string]string{}
	for _, m := range commandRow.FindAllStringSubmatch(readme, -1) {
		page := readme
		if m[2] != "" {
			page = readDoc(t, filepath.Join(docsDir, "commands", m[2]))
		}
		if m[3] != "" && !hasAnchor(page, m[3][1:]) {
			t.Errorf("docs/commands/README.md: `%s` links to %s%s: no such heading", m[1], m[2], m[3])
		}
		pages[m[1]] = page
	}
	walkCommands(newRootCmd(), func(c *cobra.Command) {
		name := strings.TrimPrefix(c.CommandPath(), "anchorwatch ")
		page, ok := pages[name]
		if !ok {
			t.Errorf("docs/commands/README.md has no row for `%s`", name)
			return
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Name == "help" || f.Hidden {
				return
			}
			spelt := `--` + regexp.QuoteMeta(f.Name) + `\b`
			if f.Shorthand != "" {
				spelt = `(?:` + spelt + `|(?:^|[\s(` + "`" + `])-` + f.Shorthand + `\b)`
			}
			flag := regexp.MustCompile(spelt)
			if !flag.MatchString(page) && !flag.MatchString(readme) {
				t.Errorf("%s --%s: not in the page docs/commands/README.md links for it", c.CommandPath(), f.Name)
			}
		})
	})
}

// TestDocsNameEveryStoreKind: docs/commands/README.md says where each
// store kind is, and --stores takes it.
func TestDocsNameEveryStoreKind(t *testing.T) {
	readme := readDoc(t, filepath.Join(docsDir, "commands", "README.md"))
	_, where, _ := strings.Cut(readme, "## Where the stores are")
	_, flags, _ := strings.Cut(readme, "## Flags every host command takes")
	for _, k := range stores.KnownKinds() {
		if !strings.Contains(where, "`"+string(k)+"`") || !strings.Contains(flags, "`"+string(k)+"`") {
			t.Errorf("docs/commands/README.md: store kind %s missing from \"Where the stores are\" or --stores", k)
		}
	}
}

// TestDocsCommandsExist: every `anchorwatch …` command line in the docs
// (code spans and code blocks of docs/*.md, docs/commands/*.md and
// README.md) names commands and flags that exist.
func TestDocsCommandsExist(t *testing.T) {
	root := newRootCmd()
	files, _ := filepath.Glob(filepath.Join(docsDir, "*.md"))
	more, _ := filepath.Glob(filepath.Join(docsDir, "commands", "*.md"))
	files = append(append(files, more...), "../../README.md")
	sort.Strings(files)
	for _, file := range files {
		for _, line := range codeLines(readDoc(t, file)) {
			for _, m := range invocation.FindAllStringSubmatch(line, -1) {
				if err := checkInvocation(root, strings.Fields(m[1])); err != "" {
					t.Errorf("%s: `anchorwatch %s`: %s", file, strings.TrimSpace(m[1]), err)
				}
			}
		}
	}
}

// invocation finds "anchorwatch ARGS" in a line of code, up to the end of
// the command (a pipe, a separator, a closing quote or parenthesis, a
// comment).
var invocation = regexp.MustCompile(`(?:^|[\s(/=$"'])anchorwatch((?: +[^\s|;&#)"'` + "`" + `<>]+)+)`)

// checkInvocation resolves args the way cobra would and says what does
// not exist ("" when it all does).
func checkInvocation(root *cobra.Command, args []string) string {
	cur := root
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "…" || a == "..." || strings.HasPrefix(a, "\\"):
			return ""
		case strings.HasPrefix(a, "-"):
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if name == "" || strings.ContainsAny(name, "…[]{}") {
				continue
			}
			var f *pflag.Flag
			if strings.HasPrefix(a, "--") {
				f = cur.Flags().Lookup(name)
				if f == nil {
					f = cur.PersistentFlags().Lookup(name)
				}
				if f == nil {
					f = cur.InheritedFlags().Lookup(name)
				}
			} else {
				f = cur.Flags().ShorthandLookup(name[:1])
				if f == nil {
					f = cur.InheritedFlags().ShorthandLookup(name[:1])
				}
			}
			if f == nil && name != "help" && name != "h" {
				return "no flag " + a + " on " + cur.CommandPath()
			}
			if f != nil && f.Value.Type() != "bool" && !hasValue && len(name) > 1 {
				i++ // its value
			}
		case cur.HasSubCommands():
			next := subcommand(cur, a)
			if next == nil {
				if isWord(a) {
					return "no command " + a + " under " + cur.CommandPath()
				}
				return ""
			}
			cur = next
		default:
			return "" // a positional argument of a leaf
		}
	}
	return ""
}

func subcommand(c *cobra.Command, name string) *cobra.Command {
	for _, s := range c.Commands() {
		if s.Name() == name || s.HasAlias(name) {
			return s
		}
	}
	return nil
}

var word = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

func isWord(s string) bool { return word.MatchString(s) }

// codeLines returns the lines of fenced code blocks and the inline code
// spans of a Markdown document.
func codeLines(doc string) []string {
	var out []string
	fenced := false
	span := regexp.MustCompile("`([^`]+)`")
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			out = append(out, line)
			continue
		}
		for _, m := range span.FindAllStringSubmatch(line, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// hasAnchor reports whether doc has a heading whose GitHub anchor is
// anchor.
func hasAnchor(doc, anchor string) bool {
	for _, line := range strings.Split(doc, "\n") {
		if h, ok := strings.CutPrefix(line, "#"); ok && headingAnchor(strings.TrimLeft(h, "#")) == anchor {
			return true
		}
	}
	return false
}

// headingAnchor is GitHub's anchor of a heading: lower case, spaces to
// hyphens, punctuation dropped.
func headingAnchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func readDoc(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// walkCommands calls fn for every available command under root (not root
// itself), the way a user finds them in --help (newRootCmd has added
// cobra's help and completion commands).
func walkCommands(root *cobra.Command, fn func(*cobra.Command)) {
	for _, c := range root.Commands() {
		if c.Hidden || c.Deprecated != "" {
			continue
		}
		fn(c)
		walkCommands(c, fn)
	}
}
