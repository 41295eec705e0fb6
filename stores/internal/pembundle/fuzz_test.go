package pembundle

import (
	"bytes"
	"testing"
)

// FuzzParse: Parse never panics and reports spans inside the data;
// whatever it accepts, Remove of every certificate leaves no certificate
// (when text around a block is crafted so that the cut joins a new BEGIN
// line, the result may not parse: the stores re-parse before writing and
// refuse such an edit), and Remove of nothing changes nothing.
func FuzzParse(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("# c\n-----BEGIN TRUSTED CERTIFICATE-----\nMAA=\n-----END TRUSTED CERTIFICATE-----"))
	f.Add([]byte("\n# anchorwatch-0123456789abcdef: x\n-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		blocks, err := Parse(data)
		if err != nil {
			return
		}
		all := map[string]bool{}
		for _, b := range blocks {
			if b.Start < 0 || b.End > len(data) || b.Start >= b.End {
				t.Fatalf("bad span %d..%d of %d", b.Start, b.End, len(data))
			}
			if b.IsCert() {
				all[b.SHA256] = true
			}
		}
		out := Remove(data, blocks, all)
		left, err := Parse(out)
		if err == nil && Certs(left) != 0 {
			t.Fatalf("%d certificates left", Certs(left))
		}
		if len(all) == 0 && !bytes.Equal(out, data) {
			t.Fatal("Remove of nothing changed the file")
		}
	})
}
