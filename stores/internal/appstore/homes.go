package appstore

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// Home is one user's home directory under the root.
type Home struct {
	Path string // inside root
	User string // login name, "" when no passwd entry names it
	UID  int    // -1 when unknown
}

// Users maps uids to login names from the root's /etc/passwd.
type Users map[int]string

// maxPasswd bounds /etc/passwd; a directory-backed host with a huge
// local file is cut at the bound, not read whole.
const maxPasswd = 8 << 20

// passwdEntry is one line of /etc/passwd.
type passwdEntry struct {
	name string
	uid  int
	home string
}

func readPasswd(ctx context.Context, root string) []passwdEntry {
	data, _, err := fsroot.ReadBeneath(ctx, root, "/etc/passwd", maxPasswd)
	if err != nil {
		return nil
	}
	var out []passwdEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 7 {
			continue
		}
		uid, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		out = append(out, passwdEntry{name: f[0], uid: uid, home: f[5]})
	}
	return out
}

// LoadUsers reads the root's /etc/passwd, once per discovery (the map is
// shared by the adapters: read it, never change it).
func LoadUsers(ctx context.Context, root string) Users {
	type key struct{ root string }
	return stores.Shared(ctx, key{root}, func() Users { return usersOf(passwd(ctx, root)) })
}

// passwd is readPasswd once per discovery.
func passwd(ctx context.Context, root string) []passwdEntry {
	type key struct{ root string }
	return stores.Shared(ctx, key{root}, func() []passwdEntry { return readPasswd(ctx, root) })
}

// Name returns the login name of uid, or the number.
func (u Users) Name(uid int) string {
	if uid < 0 {
		return ""
	}
	if n, ok := u[uid]; ok {
		return n
	}
	return strconv.Itoa(uid)
}

// Homes returns the home directories under root: /root, every directory
// in /home and /Users, and the homes /etc/passwd gives under /home,
// /Users, /srv and /var/home. Homes are not followed through symbolic
// links a user made; each home is listed once, sorted. The homes are
// found once per discovery; each caller gets its own copy of the slice.
func Homes(ctx context.Context, root string) []Home {
	type key struct{ root string }
	return slices.Clone(stores.Shared(ctx, key{root}, func() []Home { return findHomes(ctx, root) }))
}

func findHomes(ctx context.Context, root string) []Home {
	seen := map[string]bool{}
	parents := map[string]string{} // /home -> /var/home where root made /home a link
	var out []Home
	add := func(p, user string) {
		p = path.Clean(p)
		if p == "/" || !path.IsAbs(p) {
			return
		}
		dir := path.Dir(p)
		r, ok := parents[dir]
		if !ok {
			if r, ok = dir, true; dir != "/" {
				if res, err := Resolve(root, dir); err == nil {
					r = res
				}
			}
			parents[dir] = r
		}
		p = path.Join(r, path.Base(p))
		if seen[p] {
			return
		}
		fi, err := os.Lstat(fsroot.HostPath(root, p))
		if err != nil || !fi.IsDir() {
			return
		}
		seen[p] = true
		uid, _ := ownerOf(fi)
		out = append(out, Home{Path: p, User: user, UID: uid})
	}
	pw := passwd(ctx, root)
	for _, e := range pw {
		if e.uid == 0 || strings.HasPrefix(e.home, "/home/") || strings.HasPrefix(e.home, "/Users/") ||
			strings.HasPrefix(e.home, "/srv/") || strings.HasPrefix(e.home, "/var/home/") {
			add(e.home, e.name)
		}
	}
	add("/root", "root")
	for _, base := range []string{"/home", "/Users"} {
		ents, _ := os.ReadDir(fsroot.HostPath(root, base))
		for _, e := range ents {
			if e.IsDir() {
				add(path.Join(base, e.Name()), "")
			}
		}
	}
	names := usersOf(pw)
	for i := range out {
		if out[i].User == "" {
			out[i].User = names.Name(out[i].UID)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func usersOf(pw []passwdEntry) Users {
	us := Users{}
	for _, e := range pw {
		if _, dup := us[e.uid]; !dup {
			us[e.uid] = e.name
		}
	}
	return us
}

// ReadHint reads a small file for discovery (a version string, a
// marker): the last component is not followed and must be a regular
// file, the read is bounded, and nothing read decides anything but
// whether something is listed. Files that are stores, or that name
// stores, go through fsroot.
func ReadHint(root, p string, max int64) ([]byte, error) {
	return readHint(fsroot.HostPath(root, p), max)
}
