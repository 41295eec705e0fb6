package firefox

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/hostile"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// A Firefox a user unpacked under /opt is theirs: its distribution
// policies.json is read and written with their identity, so a link of
// theirs cannot make root read or write what they could not, and a FIFO
// they plant there is refused without blocking. The system-wide
// /etc/firefox policy is root's and written as root.
func TestUserOwnedFirefox(t *testing.T) {
	u := hostile.NewUser(t)
	root := t.TempDir()
	writeFile(t, fsroot.Join(root, "/opt/firefox/application.ini"), []byte("[App]\nName=Firefox\n"))
	u.Give(t, fsroot.Join(root, "/opt/firefox"), os.TempDir())
	ss, err := discover(context.Background(), stores.Env{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 || ss[0].Info().Path != "/opt/firefox/distribution/policies.json" {
		t.Fatalf("stores %v", ss)
	}
	dist := ss[0]
	system := New(Config{Path: SystemPolicyPath, Mode: ModeInstall}, stores.Env{Root: root})
	ca := testpki.NewCA(t, "Corp CA").Cert
	ctx := context.Background()
	for _, s := range []stores.Store{dist, system} {
		if _, err := s.Install(ctx, []*x509.Certificate{ca}, stores.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	for p, uid := range map[string]int{"/opt/firefox/distribution/policies.json": u.UID, SystemPolicyPath: 0} {
		fi, err := os.Lstat(fsroot.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := fsroot.FileOwner(fi); got != uid {
			t.Errorf("%s owned by uid %d, want %d", p, got, uid)
		}
	}

	// The user links policies.json to a file only root may read.
	secret := fsroot.Join(root, "/srv/secret.json")
	writeFile(t, secret, []byte(`{"policies": {"secret": "only root reads this"}}`))
	os.Chmod(filepath.Dir(secret), 0o700)
	os.Chmod(secret, 0o600)
	pol := fsroot.Join(root, "/opt/firefox/distribution/policies.json")
	u.Shell(t, "ln -sf /srv/secret.json "+pol) // a path inside the root, as the root sees it
	if _, err := dist.List(ctx); err == nil || !errors.Is(err, os.ErrPermission) {
		t.Errorf("List through the user's link to a root-only file: %v, want permission denied", err)
	}
	if _, err := dist.Install(ctx, []*x509.Certificate{testpki.NewCA(t, "Another").Cert}, stores.Options{}); err == nil {
		t.Error("Install through the user's link succeeded")
	}
	if b, _ := os.ReadFile(secret); !strings.Contains(string(b), "only root reads this") || strings.Contains(string(b), "Certificates") {
		t.Errorf("the root-only file changed: %s", b)
	}

	// A FIFO as policies.json: refused at once.
	u.Shell(t, "rm -f "+pol+" && mkfifo "+pol)
	done := make(chan error, 1)
	go func() { _, err := dist.List(ctx); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, fsroot.ErrNotRegular) {
			t.Errorf("List of a FIFO policies.json: %v, want ErrNotRegular", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("List blocked on a FIFO policies.json")
	}
}

// TestWritableIsChecked: Info says writable only where this process may
// write the policy: root, in a directory only root controls; not where
// more than one user may change the directory (anchorwatch refuses to
// write there), and not for an unprivileged user (the real binary run as
// one: cmd/anchorwatch TestNonRootNeedsRoot).
func TestWritableIsChecked(t *testing.T) {
	root := t.TempDir()
	dir := fsroot.Join(root, "/etc/firefox/policies")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := New(Config{Path: SystemPolicyPath}, stores.Env{Root: root})
	if !s.Info().Writable {
		t.Fatal("root's own /etc/firefox/policies is not writable for root")
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if s.Info().Writable {
		t.Error("a policies directory everyone may change is writable")
	}
	u := hostile.NewUser(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(fsroot.Join(root, "/etc/firefox"), u.UID, u.GID); err != nil {
		t.Fatal(err)
	}
	// A directory a user controls: root writes there only as that user.
	if !s.Info().Writable {
		t.Error("a policies directory one user controls is not writable (root acts as that user)")
	}
}
