package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/hostile"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// TestNonRootNeedsRoot runs the real binary as an unprivileged user
// (useradd) on a workstation sandbox owned by root: `stores` marks no
// store writable, and `install`, dry run and real run, say per store that
// root is needed (status needs-root, exit 1) without a raw "permission
// denied", and write nothing. Root, on the same sandbox, sees the stores
// writable and installs.
func TestNonRootNeedsRoot(t *testing.T) {
	rootOnlyTemp(t)
	w := newWorkstation(t)
	if err := os.MkdirAll(filepath.Join(w.root, "etc/firefox"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := buildAnchorwatch(t)
	u := hostile.NewUser(t)
	for _, p := range []string{w.root, filepath.Dir(bin), filepath.Dir(w.caFile)} {
		openPath(t, p)
	}
	as := func(args ...string) (string, string, int) {
		cmd := u.Cmd(bin, args...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if err != nil && cmd.ProcessState == nil {
			t.Fatalf("anchorwatch %v as %s: %v", args, u.Name, err)
		}
		return out.String(), errb.String(), cmd.ProcessState.ExitCode()
	}
	kinds := "system,firefox,java,nss"

	out, errOut, code := as("stores", "--root", w.root, "--stores", kinds, "--json")
	var listed storesOutput
	if code != 0 || json.Unmarshal([]byte(out), &listed) != nil || len(listed.Stores) < 4 {
		t.Fatalf("stores as %s: exit %d\n%s%s", u.Name, code, out, errOut)
	}
	for _, i := range listed.Stores {
		if i.Writable || (i.Note == "" && !i.NeedsRoot) {
			t.Errorf("stores as %s: %s writable=%v needs_root=%v", u.Name, i.ID, i.Writable, i.NeedsRoot)
		}
	}
	if out, _, _ := as("stores", "--root", w.root, "--stores", kinds); !strings.Contains(out, "needs root") {
		t.Errorf("stores table as %s says nothing of root:\n%s", u.Name, out)
	}

	before := snapshotDir(t, w.root)
	for _, args := range [][]string{
		{"install", "--dry-run", "--ca", w.caFile, "--root", w.root, "--stores", kinds},
		{"install", "--ca", w.caFile, "--root", w.root, "--stores", kinds},
	} {
		out, errOut, code := as(args...)
		if code != 1 || strings.Contains(strings.ToLower(out+errOut), "permission denied") {
			t.Errorf("%v as %s: exit %d (want 1), or a raw permission denied\n%s%s", args, u.Name, code, out, errOut)
		}
		if !strings.Contains(out, "need root") {
			t.Errorf("%v as %s: no summary of the stores that need root\n%s", args, u.Name, out)
		}
		jout, _, _ := as(append(args, "--json")...)
		var res changeOutput
		if err := json.Unmarshal([]byte(jout), &res); err != nil {
			t.Fatalf("%v --json: %v\n%s", args, err, jout)
		}
		if res.NeedsRoot < 4 || res.Changed != 0 {
			t.Errorf("%v as %s: %d need root, %d changed\n%s", args, u.Name, res.NeedsRoot, res.Changed, jout)
		}
		for _, r := range res.Stores {
			if r.Status != outcomeNeedsRoot && r.Status != outcomeUnchanged {
				t.Errorf("%v as %s: %s %s: %s", args, u.Name, r.ID, r.Status, r.Detail)
			}
		}
	}
	if after := snapshotDir(t, w.root); !maps.Equal(before, after) {
		t.Errorf("install as %s changed the sandbox", u.Name)
	}

	stdout, stderr, code := runBin(t, bin, "stores", "--root", w.root, "--stores", kinds, "--json")
	var asRoot storesOutput
	if code != 0 || json.Unmarshal([]byte(stdout), &asRoot) != nil {
		t.Fatalf("stores as root: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, i := range asRoot.Stores {
		if i.NeedsRoot || (i.Kind == stores.KindFirefox && !i.Writable) {
			t.Errorf("stores as root: %s writable=%v needs_root=%v", i.ID, i.Writable, i.NeedsRoot)
		}
	}
	if stdout, stderr, code := runBin(t, bin, "install", "--ca", w.caFile, "--root", w.root, "--stores", kinds); code != 0 {
		t.Errorf("install as root: exit %d\n%s%s", code, stdout, stderr)
	}
}

// rootOnlyTemp points t.TempDir at a fresh directory in the first of
// /var/lib, /srv and /run that only root may change: the stores refuse to
// write below a directory more than one user may change, which /tmp and
// /var/tmp are (and, on some machines, without their sticky bit).
func rootOnlyTemp(t *testing.T) {
	t.Helper()
	for _, parent := range []string{"/var/lib", "/srv", "/run"} {
		if c, err := fsroot.Controller(parent); err != nil || c.UID != 0 {
			continue
		}
		dir, err := os.MkdirTemp(parent, "anchorwatch-test-")
		if err != nil {
			continue
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		t.Setenv("TMPDIR", dir)
		return
	}
	t.Fatal("no directory only root may change among /var/lib, /srv and /run")
}

// openPath lets every user reach p: p and its parents get o+x (t.TempDir
// makes them 0700), p itself o+rx.
func openPath(t *testing.T, p string) {
	t.Helper()
	for d := p; d != "/" && d != "."; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		mode := fi.Mode().Perm() | 0o001
		if d == p {
			mode |= 0o005
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}
}
