package pembundle

import (
	"bytes"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

// certifiStyle is a bundle laid out like certifi's cacert.pem: comment
// headers before each block, a leading blank line.
func certifiStyle(t *testing.T) ([]byte, []*testpki.CA) {
	a, b := testpki.NewCA(t, "Vendor Root A"), testpki.NewCA(t, "Vendor Root B")
	var buf bytes.Buffer
	for _, ca := range []*testpki.CA{a, b} {
		buf.WriteString("\n# Issuer: CN=" + ca.Cert.Subject.CommonName + "\n# Label: \"" + ca.Cert.Subject.CommonName + "\"\n")
		buf.Write(testpki.PEM(ca.Cert))
	}
	return buf.Bytes(), []*testpki.CA{a, b}
}

func TestParseAppendRemove(t *testing.T) {
	data, vendors := certifiStyle(t)
	corp := testpki.NewCA(t, "Corp\nInterception CA") // a line break in the name must not break the file
	blocks, err := Parse(data)
	if err != nil || Certs(blocks) != 2 {
		t.Fatalf("Parse: %d certs, %v", Certs(blocks), err)
	}
	if !strings.Contains(blocks[1].Comment, "Vendor Root B") || blocks[1].SHA256 != stores.SHA256(vendors[1].Cert) {
		t.Fatalf("block 1: comment %q sha %s", blocks[1].Comment, blocks[1].SHA256)
	}
	added := Append(data, []*x509.Certificate{corp.Cert})
	if !bytes.HasPrefix(added, data) {
		t.Fatal("Append changed existing bytes")
	}
	ab, err := Parse(added)
	if err != nil || Certs(ab) != 3 || ab[2].SHA256 != stores.SHA256(corp.Cert) {
		t.Fatalf("after Append: %d certs, %v", Certs(ab), err)
	}
	if strings.Count(string(added), "\n# anchorwatch-") != 1 || strings.Contains(ab[2].Comment, "\nInterception") {
		t.Fatalf("label line: %q", ab[2].Comment)
	}
	back := Remove(added, ab, map[string]bool{stores.SHA256(corp.Cert): true})
	if !bytes.Equal(back, data) {
		t.Fatalf("Remove did not restore the file byte for byte:\n%q\n%q", back, data)
	}
	noA := Remove(data, blocks, map[string]bool{stores.SHA256(vendors[0].Cert): true})
	if nb, _ := Parse(noA); Certs(nb) != 1 || nb[0].SHA256 != stores.SHA256(vendors[1].Cert) {
		t.Fatal("removing a vendor root")
	}
}

// TestOpenSSLReadsAppended: the real OpenSSL verifies a leaf of the CA
// with the appended bundle, and no longer after Remove.
func TestOpenSSLReadsAppended(t *testing.T) {
	data, _ := certifiStyle(t)
	corp := testpki.NewCA(t, "Corp Interception CA")
	leaf := corp.Leaf(t, "intranet.example")
	dir := t.TempDir()
	leafFile := testpki.WritePEM(t, filepath.Join(dir, "leaf.pem"), leaf.Leaf)
	verify := func(bundle []byte) error {
		f := filepath.Join(dir, "bundle.pem")
		os.WriteFile(f, bundle, 0o644)
		out, err := exec.Command("openssl", "verify", "-CAfile", f, leafFile).CombinedOutput()
		if err != nil {
			return &exec.ExitError{Stderr: out}
		}
		return nil
	}
	if verify(data) == nil {
		t.Fatal("openssl verified the leaf before the CA was added")
	}
	added := Append(data, []*x509.Certificate{corp.Cert})
	if err := verify(added); err != nil {
		t.Fatalf("openssl with the appended bundle: %s", err.(*exec.ExitError).Stderr)
	}
	blocks, _ := Parse(added)
	if verify(Remove(added, blocks, map[string]bool{stores.SHA256(corp.Cert): true})) == nil {
		t.Fatal("openssl still verifies after Remove")
	}
}

func TestParseErrors(t *testing.T) {
	ca := testpki.NewCA(t, "X")
	good := testpki.PEM(ca.Cert)
	for name, data := range map[string][]byte{
		"truncated":    good[:len(good)-30],
		"spliced":      append(append([]byte{}, good[:100]...), good...),
		"bad base64":   bytes.Replace(good, []byte("MII"), []byte("M*I"), 1),
		"trailing end": append(append([]byte{}, good[:len(good)-1]...), []byte("-----END X-----\n")...),
	} {
		if _, err := Parse(data); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%s: %v, want an error on line 1", name, err)
		}
	}
	if b, err := Parse([]byte("just text\n# no blocks\n")); err != nil || len(b) != 0 {
		t.Errorf("text only: %v %v", b, err)
	}
}

func TestCacheSharesParses(t *testing.T) {
	data, _ := certifiStyle(t)
	c := NewCache()
	p1, err := c.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := c.Parse(bytes.Clone(data))
	if p1 != p2 {
		t.Fatal("identical content parsed twice")
	}
	other := append(bytes.Clone(data), '\n')
	if p3, _ := c.Parse(other); p3 == p1 {
		t.Fatal("different content shares a parse")
	}
}
