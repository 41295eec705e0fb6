package policy

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

// TestExampleHasNoEntries: what `policy init` writes enforces nothing
// but its CA. A blocklist entry, an exemption or a do-not-decrypt entry
// left in the document would be signed and enforced unnoticed.
func TestExampleHasNoEntries(t *testing.T) {
	ca := testpki.NewCA(t, "Corp Root").Cert
	d, err := Parse(Example(ca))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Blocklist) != 0 || len(d.Exemptions) != 0 || len(d.DoNotDecrypt) != 0 || len(d.Remove) != 0 || len(d.JavaPasswords) != 0 {
		t.Errorf("the example enforces entries: blocklist %v, exemptions %v, do_not_decrypt %v, remove %v, java_passwords %d",
			d.Blocklist, d.Exemptions, d.DoNotDecrypt, d.Remove, len(d.JavaPasswords))
	}
	for _, f := range []string{"blocklist", "exemptions", "do_not_decrypt"} {
		if !strings.Contains(string(Example(ca)), `"//`+f+`": "`) || !strings.Contains(commentOf(t, Example(ca), f), "docs/policy.md") {
			t.Errorf("the comment of %s does not point to the examples in docs/policy.md", f)
		}
	}
}

// commentOf returns the "//field" comment of an example document.
func commentOf(t *testing.T, doc []byte, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	s, _ := m["//"+field].(string)
	return s
}

// TestDocumentedExamplesParse: the example entries docs/policy.md shows
// (instead of the generated document) are valid, with a real CA put in
// place of the anchor placeholder.
func TestDocumentedExamplesParse(t *testing.T) {
	md, err := os.ReadFile("../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(md), "\n## Examples\n")
	if !ok {
		t.Fatal("docs/policy.md has no Examples section")
	}
	_, block, ok := strings.Cut(sec, "```json\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("the Examples section of docs/policy.md has no json block")
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(block), &m); err != nil {
		t.Fatalf("docs/policy.md example: %v", err)
	}
	ca := testpki.NewCA(t, "Corp Root")
	m["anchors"] = []any{map[string]any{"pem": string(testpki.PEM(ca.Cert))}}
	doc, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(doc)
	if err != nil {
		t.Fatalf("docs/policy.md example does not parse: %v", err)
	}
	if len(d.Blocklist) == 0 || len(d.Exemptions) == 0 || len(d.DoNotDecrypt) == 0 {
		t.Errorf("docs/policy.md example lacks entries: %+v", d)
	}
}
