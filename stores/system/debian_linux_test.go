//go:build linux

package system_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/system"
	"github.com/anchorwatch/anchorwatch/stores/system/systemtest"
)

// debianStore builds a Debian sandbox with the real tool and opens it.
func debianStore(t testing.TB) (root string, s *system.Store) {
	t.Helper()
	root = t.TempDir()
	systemtest.DebianRoot(t, root)
	s, err := system.Open(stores.Env{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	return root, s
}

func audit(t *testing.T, s *system.Store, want ...*x509.Certificate) stores.Result {
	t.Helper()
	return stores.Audit(context.Background(), s, want) // through the Auditor hook
}

func TestDebianInstallVerifyRemove(t *testing.T) {
	ctx := context.Background()
	root, s := debianStore(t)
	bundle := filepath.Join(root, systemtest.DebianBundle)
	ca, key := systemtest.CA(t, "Anchorwatch Test Interception CA")
	leaf := systemtest.Leaf(t, ca, key, "intranet.example")

	info := s.Info()
	if info.Format != "debian" || info.ID != "system:/etc/ssl/certs/ca-certificates.crt" || !info.Writable || info.Note != "" {
		t.Fatalf("Info = %+v", info)
	}
	if err := systemtest.Verify(bundle, leaf); err == nil {
		t.Fatal("openssl verify accepted the leaf before the CA was installed")
	}
	if r := audit(t, s, ca); r.Status != stores.StatusMissing {
		t.Fatalf("before install: %s %s", r.Status, r.Detail)
	}

	changes, err := s.Install(ctx, []*x509.Certificate{ca}, stores.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Action != stores.ActionAdded {
		t.Fatalf("changes = %+v", changes)
	}
	anchor := filepath.Join(root, systemtest.DebianAnchorsDir, stores.Label(ca)+".crt")
	fi, err := os.Stat(anchor)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("anchor mode %v, want 0644", fi.Mode().Perm())
	}
	if got, _ := os.ReadFile(anchor); !bytes.Equal(got, systemtest.PEM(ca)) {
		t.Errorf("anchor file content is not the CA's PEM")
	}
	if err := systemtest.Verify(bundle, leaf); err != nil {
		t.Fatalf("after install: %v", err)
	}
	if r := audit(t, s, ca); r.Status != stores.StatusCompliant {
		t.Fatalf("after install: %s %s", r.Status, r.Detail)
	}
	// The tool ran with directory flags: its links must name paths inside
	// the root, not host paths.
	link := filepath.Join(root, "etc/ssl/certs", stores.Label(ca)+".pem")
	if target, err := os.Readlink(link); err != nil || target != systemtest.DebianAnchorsDir+"/"+stores.Label(ca)+".crt" {
		t.Errorf("link %s -> %q (%v), want a path inside the root", link, target, err)
	}

	// Idempotent: nothing rewritten.
	before, _ := os.Stat(bundle)
	changes, err = s.Install(ctx, []*x509.Certificate{ca}, stores.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if stores.Changed(changes) {
		t.Fatalf("second install changed: %+v", changes)
	}
	if after, _ := os.Stat(bundle); !after.ModTime().Equal(before.ModTime()) || !os.SameFile(before, after) {
		t.Error("second install rewrote the bundle")
	}

	changes, err = s.Remove(ctx, []string{stores.SHA256(ca)}, stores.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Action != stores.ActionRemoved {
		t.Fatalf("remove changes = %+v", changes)
	}
	if _, err := os.Stat(anchor); !os.IsNotExist(err) {
		t.Errorf("anchor file still there: %v", err)
	}
	if err := systemtest.Verify(bundle, leaf); err == nil {
		t.Fatal("openssl verify still accepts the leaf after remove")
	}
	if r := audit(t, s, ca); r.Status != stores.StatusMissing {
		t.Fatalf("after remove: %s %s", r.Status, r.Detail)
	}
	changes, err = s.Remove(ctx, []string{stores.SHA256(ca)}, stores.Options{})
	if err != nil || stores.Changed(changes) {
		t.Fatalf("second remove: %+v %v", changes, err)
	}
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendConf(t testing.TB, root, line string) {
	t.Helper()
	p := filepath.Join(root, systemtest.DebianCertsConf)
	conf, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, append(conf, []byte(line+"\n")...))
}

// A CA an administrator added by hand (cp + update-ca-certificates) is
// audited compliant, and our Install leaves it alone.
func TestDebianHandAddedIsCompliant(t *testing.T) {
	root, s := debianStore(t)
	ca, key := systemtest.CA(t, "Hand Added CA")
	writeFile(t, filepath.Join(root, systemtest.DebianAnchorsDir, "corp", "corp-root.crt"), systemtest.PEM(ca))
	systemtest.Refresh(t, root)
	if err := systemtest.Verify(filepath.Join(root, systemtest.DebianBundle), systemtest.Leaf(t, ca, key, "a.example")); err != nil {
		t.Fatal(err)
	}
	if r := audit(t, s, ca); r.Status != stores.StatusCompliant {
		t.Fatalf("%s %s", r.Status, r.Detail)
	}
	changes, err := s.Install(context.Background(), []*x509.Certificate{ca}, stores.Options{})
	if err != nil || stores.Changed(changes) {
		t.Fatalf("install over a hand-added CA: %+v %v", changes, err)
	}
	if _, err := os.Stat(filepath.Join(root, systemtest.DebianAnchorsDir, stores.Label(ca)+".crt")); !os.IsNotExist(err) {
		t.Fatal("install wrote a second anchor file")
	}
	// Remove takes out any anchors-dir file holding the certificate.
	changes, err = s.Remove(context.Background(), []string{stores.SHA256(ca)}, stores.Options{})
	if err != nil || len(changes) != 1 || changes[0].Action != stores.ActionRemoved {
		t.Fatalf("remove: %+v %v", changes, err)
	}
	if r := audit(t, s, ca); r.Status != stores.StatusMissing {
		t.Fatalf("after remove: %s %s", r.Status, r.Detail)
	}
}

// The explanations for a CA that is in the sources but not in the bundle.
func TestDebianUntrustedReasons(t *testing.T) {
	root, s := debianStore(t)
	deselected, _ := systemtest.CA(t, "Deselected CA")
	unlisted, _ := systemtest.CA(t, "Unlisted CA")
	stale, _ := systemtest.CA(t, "Not Refreshed CA")
	wrongExt, _ := systemtest.CA(t, "Wrong Extension CA")

	writeFile(t, filepath.Join(root, systemtest.DebianCertsDir, "extra", "deselected.crt"), systemtest.PEM(deselected))
	appendConf(t, root, "extra/deselected.crt")
	systemtest.Refresh(t, root)
	if r := audit(t, s, deselected); r.Status != stores.StatusCompliant {
		t.Fatalf("selected in the conf: %s %s", r.Status, r.Detail)
	}
	// Deselect it the way dpkg-reconfigure does.
	conf := filepath.Join(root, systemtest.DebianCertsConf)
	data, _ := os.ReadFile(conf)
	writeFile(t, conf, bytes.Replace(data, []byte("\nextra/deselected.crt\n"), []byte("\n!extra/deselected.crt\n"), 1))
	writeFile(t, filepath.Join(root, systemtest.DebianCertsDir, "extra", "unlisted.crt"), systemtest.PEM(unlisted))
	writeFile(t, filepath.Join(root, systemtest.DebianAnchorsDir, "wrong.pem"), systemtest.PEM(wrongExt))
	systemtest.Refresh(t, root)
	writeFile(t, filepath.Join(root, systemtest.DebianAnchorsDir, "stale.crt"), systemtest.PEM(stale))

	for _, tt := range []struct {
		ca   *x509.Certificate
		want string
	}{
		{deselected, `deselected in /etc/ca-certificates.conf (line "!extra/deselected.crt")`},
		{unlisted, "not selected in /etc/ca-certificates.conf"},
		{stale, "present but bundle /etc/ssl/certs/ca-certificates.crt not refreshed: run update-ca-certificates"},
		{wrongExt, "ignored by update-ca-certificates: the name must end in .crt"},
	} {
		r := audit(t, s, tt.ca)
		if r.Status != stores.StatusUntrusted || !strings.Contains(r.Detail, tt.want) {
			t.Errorf("%s: %s %q, want untrusted with %q", tt.ca.Subject.CommonName, r.Status, r.Detail, tt.want)
		}
	}
	// Install fixes all of them: our anchor is always in the bundle.
	all := []*x509.Certificate{deselected, unlisted, stale, wrongExt}
	changes, err := s.Install(context.Background(), all, stores.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if c.Action != stores.ActionTrusted {
			t.Errorf("change %+v, want trusted (present, trust fixed)", c)
		}
	}
	if r := audit(t, s, all...); r.Status != stores.StatusCompliant {
		t.Fatalf("after install: %s %s", r.Status, r.Detail)
	}
}

// List reports the full bundle, trusted, with the distribution's CAs
// marked Vendor.
func TestDebianListVendor(t *testing.T) {
	root, s := debianStore(t)
	ca, _ := systemtest.CA(t, "Local CA")
	if _, err := s.Install(context.Background(), []*x509.Certificate{ca}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	anchors, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(root, systemtest.DebianBundle))
	blocks := bytes.Count(data, []byte("-----BEGIN CERTIFICATE-----"))
	if len(anchors) < 100 || len(anchors) > blocks {
		t.Fatalf("List returned %d anchors for a bundle of %d blocks", len(anchors), blocks)
	}
	vendor := 0
	for _, a := range anchors {
		if !a.TrustedServerAuth || a.Cert == nil || a.SHA256 != stores.SHA256(a.Cert) {
			t.Fatalf("bad anchor %+v", a)
		}
		if a.Vendor {
			vendor++
			if !strings.HasPrefix(a.Label, "/usr/share/ca-certificates/mozilla/") {
				t.Errorf("vendor anchor labelled %q", a.Label)
			}
		}
		if a.SHA256 == stores.SHA256(ca) && (a.Vendor || a.Label != systemtest.DebianAnchorsDir+"/"+stores.Label(ca)+".crt") {
			t.Errorf("our CA listed as %+v", a)
		}
	}
	mozilla, _ := filepath.Glob(filepath.Join(root, systemtest.DebianCertsDir, "mozilla", "*.crt"))
	if vendor != len(mozilla) {
		t.Errorf("%d vendor anchors, want %d (the mozilla set)", vendor, len(mozilla))
	}

	// Removing a distribution CA deselects it in the conf, as
	// dpkg-reconfigure would; installing it again brings it back through
	// our anchors directory.
	isrg := filepath.Join(root, systemtest.DebianCertsDir, "mozilla", "ISRG_Root_X1.crt")
	data, err = os.ReadFile(isrg)
	if err != nil {
		t.Fatalf("the host's ca-certificates lacks ISRG Root X1: %v", err)
	}
	blk, _ := pem.Decode(data)
	root1, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := s.Remove(context.Background(), []string{stores.SHA256(root1)}, stores.Options{})
	if err != nil || len(changes) != 1 || changes[0].Action != stores.ActionRemoved {
		t.Fatalf("remove a distribution CA: %+v %v", changes, err)
	}
	conf, _ := os.ReadFile(filepath.Join(root, systemtest.DebianCertsConf))
	if !bytes.Contains(conf, []byte("\n!mozilla/ISRG_Root_X1.crt\n")) {
		t.Fatal("ISRG Root X1 not deselected in the conf")
	}
	if r := audit(t, s, root1); r.Status != stores.StatusUntrusted || !strings.Contains(r.Detail, "deselected in /etc/ca-certificates.conf") {
		t.Fatalf("after remove: %s %s", r.Status, r.Detail)
	}
	changes, err = s.Install(context.Background(), []*x509.Certificate{root1}, stores.Options{})
	if err != nil || len(changes) != 1 || changes[0].Action != stores.ActionTrusted {
		t.Fatalf("re-install: %+v %v", changes, err)
	}
	if r := audit(t, s, root1); r.Status != stores.StatusCompliant {
		t.Fatalf("after re-install: %s %s", r.Status, r.Detail)
	}
}

// A corrupt or truncated bundle is an error; nothing is written.
func TestDebianCorruptBundle(t *testing.T) {
	root, s := debianStore(t)
	bundle := filepath.Join(root, systemtest.DebianBundle)
	orig, _ := os.ReadFile(bundle)
	ca, _ := systemtest.CA(t, "Some CA")
	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", orig[:len(orig)*2/3], "PEM block has no END line"},
		{"bit rot", bytes.Replace(orig, []byte("MII"), []byte("M*I"), 5), "does not decode"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			writeFile(t, bundle, tt.data)
			anchorsBefore := dirState(t, filepath.Join(root, systemtest.DebianAnchorsDir))
			if _, err := s.List(context.Background()); err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "corrupt") {
				t.Fatalf("List: %v, want an error with %q", err, tt.want)
			}
			if r := audit(t, s, ca); r.Status != stores.StatusError {
				t.Fatalf("audit: %s %s", r.Status, r.Detail)
			}
			_, err := s.Install(context.Background(), []*x509.Certificate{ca}, stores.Options{})
			if err == nil || !strings.Contains(err.Error(), "rebuild it with update-ca-certificates") {
				t.Fatalf("Install: %v", err)
			}
			if got, _ := os.ReadFile(bundle); !bytes.Equal(got, tt.data) {
				t.Fatal("bundle changed")
			}
			if after := dirState(t, filepath.Join(root, systemtest.DebianAnchorsDir)); after != anchorsBefore {
				t.Fatalf("anchors dir changed: %s -> %s", anchorsBefore, after)
			}
		})
	}
}

// dirState summarizes a directory's names and contents.
func dirState(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		b.WriteString(p)
		if !d.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b.WriteString(fmt.Sprintf(":%x", sha256.Sum256(data)))
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
