package java

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/hostile"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/java/javatest"
)

// userJDK lays out a JDK the user unpacked under /opt (a copy of the
// host's Temurin 25 password-less PKCS12 cacerts) and gives it to them.
func userJDK(t *testing.T, root string, u hostile.User) (path string) {
	t.Helper()
	data, err := os.ReadFile(javatest.HostJDK25Cacerts)
	if err != nil {
		t.Fatalf("the Temurin 25 JDK is needed: %v", err)
	}
	jdk := "/opt/" + u.Name + "-jdk"
	path = jdk + "/lib/security/cacerts"
	hp := fsroot.Join(root, path)
	os.MkdirAll(filepath.Dir(hp), 0o755)
	if err := os.WriteFile(hp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	u.Give(t, fsroot.Join(root, jdk), os.TempDir())
	return path
}

func discoverOne(t *testing.T, root, path string) stores.Store {
	t.Helper()
	ss, err := Discover(context.Background(), stores.Env{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		if s.Info().ID == "java:"+path {
			return s
		}
	}
	return nil
}

// A JDK a user unpacked is that user's store: anchorwatch writes it with
// the user's identity (the file stays theirs, keytool sees the CA), and
// refuses it when it is not theirs outright. A cacerts the user turns
// into a link to a root-owned keystore does not make that keystore a
// store.
func TestUserOwnedJDK(t *testing.T) {
	u := hostile.NewUser(t)
	root := t.TempDir()
	path := userJDK(t, root, u)
	hp := fsroot.Join(root, path)
	ca := testpki.NewCA(t, "Corp CA").Cert
	ctx := context.Background()

	s := discoverOne(t, root, path)
	if s == nil {
		t.Fatal("the user's JDK was not found")
	}
	if _, err := s.Install(ctx, []*x509.Certificate{ca}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Lstat(hp)
	if uid, gid := fsroot.FileOwner(fi); uid != u.UID || gid != u.GID {
		t.Errorf("the keystore is owned by %d:%d after the write, want the user's %d:%d", uid, gid, u.UID, u.GID)
	}
	if out := keytoolList(t, jdk(t, 25), hp, "PKCS12", "changeit"); !strings.Contains(out, stores.Label(ca)) {
		t.Errorf("keytool does not see the CA:\n%s", out)
	}

	// The user links cacerts to a root-owned keystore nobody discovers.
	victim := "/srv/app/truststore.p12"
	os.MkdirAll(fsroot.Join(root, "/srv/app"), 0o755)
	os.WriteFile(fsroot.Join(root, victim), readFile(t, javatest.HostJDK25Cacerts), 0o644)
	before := readFile(t, fsroot.Join(root, victim))
	u.Shell(t, "ln -sf "+fsroot.Join(root, victim)+" "+hp)
	if s := discoverOne(t, root, victim); s != nil {
		t.Fatalf("a user's link made the root-owned %s a store", victim)
	}
	if got := readFile(t, fsroot.Join(root, victim)); string(got) != string(before) {
		t.Fatal("the root-owned keystore changed")
	}

	// A root-owned cacerts in the user's directory, a hard-linked one, a
	// group-writable runtime directory: refused, not written.
	traps := map[string]func(){
		"root-owned": func() { u.Shell(t, "rm -f "+hp); os.WriteFile(hp, before, 0o644) },
		"hard link": func() {
			u.Shell(t, "rm -f "+hp+" && cp "+fsroot.Join(root, victim)+" "+hp+".mine && ln "+hp+".mine "+hp)
		},
		"group-writable": func() {
			u.Shell(t, "rm -f "+hp+" "+hp+".mine && cp "+fsroot.Join(root, victim)+" "+hp+" && chmod g+w "+filepath.Dir(hp))
		},
	}
	for _, name := range []string{"root-owned", "hard link", "group-writable"} {
		traps[name]()
		s := openStore(t, root, path, nil)
		snap := readFile(t, hp)
		_, err := s.Install(ctx, []*x509.Certificate{testpki.NewCA(t, "Another CA").Cert}, stores.Options{})
		if !errors.Is(err, stores.ErrUnsafe) {
			t.Errorf("%s: Install error %v, want ErrUnsafe", name, err)
		}
		if string(readFile(t, hp)) != string(snap) {
			t.Errorf("%s: the keystore was written", name)
		}
		if !strings.Contains(errString(err), path) {
			t.Errorf("%s: error %q does not name the keystore", name, err)
		}
	}
}

func readFile(t *testing.T, hp string) []byte {
	t.Helper()
	b, err := os.ReadFile(hp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
