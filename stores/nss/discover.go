package nss

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

func init() {
	stores.Register(stores.Adapter{Kind: stores.KindNSS, Discover: Discover})
}

// mozillaDirs are the directories, relative to a home, that hold a
// profiles.ini, with the application reading them.
var mozillaDirs = []struct{ rel, app string }{
	{".mozilla/firefox", "firefox"},
	{"snap/firefox/common/.mozilla/firefox", "firefox"},
	{".var/app/org.mozilla.firefox/.mozilla/firefox", "firefox"},
	{".config/mozilla/firefox", "firefox"}, // XDG layout of recent Firefox
	{"Library/Application Support/Firefox", "firefox"},
	{".thunderbird", "thunderbird"},
	{"snap/thunderbird/common/.thunderbird", "thunderbird"},
	{".var/app/org.mozilla.Thunderbird/.thunderbird", "thunderbird"},
	{".var/app/net.thunderbird.Thunderbird/.thunderbird", "thunderbird"},
	{"Library/Thunderbird", "thunderbird"},
}

// chromiumDirs are NSS databases, relative to a home, read by Chromium
// and other NSS applications of the user.
var chromiumDirs = []string{
	".pki/nssdb",
	"snap/chromium/current/.pki/nssdb",
	".var/app/org.chromium.Chromium/.pki/nssdb",
}

// systemDirs are system-wide NSS databases.
var systemDirs = []string{"/etc/pki/nssdb"}

// candidate is a directory that may hold an NSS database.
type candidate struct {
	dir, app string
	home     string // the home it was found in; "" for system databases
	iniOwner int    // uid of the profiles.ini that named it; -1 otherwise
}

// Discover returns every NSS database under env.Root: each profile of
// every user's Firefox and Thunderbird (classic, snap, flatpak, macOS),
// every user's Chromium database, and the system database. A directory
// reached twice through symlinks is one store. Legacy cert8.db databases
// are returned with a Note.
func Discover(ctx context.Context, env stores.Env) ([]stores.Store, error) {
	env = env.Normalize()
	users := readPasswd(env.Root)
	var cands []candidate
	for _, d := range systemDirs {
		cands = append(cands, candidate{dir: d, app: "system", iniOwner: -1})
	}
	for _, home := range homes(env.Root, users) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var mine []candidate
		for _, m := range mozillaDirs {
			mine = append(mine, profileDirs(env, path.Join(home, m.rel), m.app)...)
		}
		for _, c := range chromiumDirs {
			mine = append(mine, candidate{dir: path.Join(home, c), app: "chromium", iniOwner: -1})
		}
		for i := range mine {
			mine[i].home = home
		}
		cands = append(cands, mine...)
	}
	var out []stores.Store
	seen := map[string]bool{}
	for _, c := range cands {
		resolved, err := fsroot.Resolve(env.Root, c.dir)
		if err != nil || seen[resolved] {
			continue
		}
		if !hasDB(env.Root, resolved) {
			continue
		}
		if why := c.foreign(env.Root, resolved); why != "" {
			env.Log.Warn("nss: skip a database a user points at but does not own", "dir", c.dir, "resolved", resolved, "why", why)
			continue
		}
		seen[resolved] = true
		s, err := open(env, users, resolved, c.app)
		if err != nil {
			env.Log.Debug("nss: skip database", "dir", c.dir, "err", err)
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Info().ID < out[j].Info().ID })
	return out, nil
}

// foreign says why a database found through a user's files must not be
// taken as that user's ("" when it may): a profile a profiles.ini names
// must belong to whoever owns that profiles.ini, and a database reached
// through a symbolic link out of a home must belong to the home's owner.
// Otherwise a user could make /etc/pki/nssdb or root's own profile pass
// for one of theirs.
func (c candidate) foreign(root, resolved string) string {
	uid, _ := fsroot.Owner(fsroot.Join(root, resolved))
	switch {
	case c.iniOwner >= 0 && uid != c.iniOwner:
		return fmt.Sprintf("named by a profiles.ini of uid %d, owned by uid %d", c.iniOwner, uid)
	case c.home != "" && resolved != c.home && !strings.HasPrefix(resolved, c.home+"/"):
		if owner, _ := fsroot.Owner(fsroot.Join(root, c.home)); owner != uid {
			return fmt.Sprintf("outside the home %s of uid %d, owned by uid %d", c.home, owner, uid)
		}
	}
	return ""
}

// profileDirs returns the profiles a profiles.ini in iniDir names or,
// without one, the subdirectories of iniDir (and iniDir/Profiles, the
// macOS layout) that hold a database.
func profileDirs(env stores.Env, iniDir, app string) []candidate {
	hp := fsroot.Join(env.Root, iniDir)
	if fi, err := os.Stat(hp); err != nil || !fi.IsDir() {
		return nil
	}
	var out []candidate
	ini, owner, err := readProfilesINI(env.Root, iniDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		env.Log.Warn("nss: profiles.ini not read", "dir", iniDir, "err", err)
	}
	for _, ref := range parseProfilesINI(ini) {
		out = append(out, candidate{dir: resolveProfile(iniDir, ref), app: app, iniOwner: owner})
	}
	// Profiles not (or no longer) listed in profiles.ini are still read
	// by a Firefox started with -profile, and still hold trust: look at
	// the directories themselves too. Duplicates are removed by the caller.
	for _, base := range []string{iniDir, path.Join(iniDir, "Profiles")} {
		ents, err := os.ReadDir(fsroot.Join(env.Root, base))
		if err != nil {
			continue
		}
		for _, e := range ents {
			if e.IsDir() || e.Type()&fs.ModeSymlink != 0 {
				out = append(out, candidate{dir: path.Join(base, e.Name()), app: app, iniOwner: -1})
			}
		}
	}
	return out
}

// readProfilesINI reads iniDir/profiles.ini (inside root) the safe way:
// a regular file (a FIFO or device planted there is refused without
// blocking), at most maxINI bytes, owned by whoever owns iniDir. A
// symbolic link (a dotfile manager's) is resolved inside the root and
// checked at its target. It returns the data and the file's owner.
func readProfilesINI(root, iniDir string) ([]byte, int, error) {
	dir, err := fsroot.Resolve(root, iniDir)
	if err != nil {
		return nil, -1, err
	}
	dirOwner, _ := fsroot.Owner(fsroot.Join(root, dir))
	w := fsroot.Want{Max: maxINI}
	if dirOwner >= 0 {
		w = w.OwnedBy(dirOwner)
	}
	data, err := fsroot.ReadFileIn(root, path.Join(iniDir, "profiles.ini"), w)
	if err != nil {
		return nil, -1, err
	}
	return data, dirOwner, nil
}

// hasDB reports whether dir (inside root) holds cert9.db or cert8.db.
func hasDB(root, dir string) bool {
	return exists(fsroot.Join(root, path.Join(dir, FormatCert9))) ||
		exists(fsroot.Join(root, path.Join(dir, FormatCert8)))
}

// homes returns every home directory under root: those in the root's
// /etc/passwd, /root, and every directory in /home and /Users.
func homes(root string, us users) []string {
	var out []string
	seen := map[string]bool{}
	add := func(h string) {
		if h == "" || h == "/" || !path.IsAbs(h) {
			return
		}
		r, err := fsroot.Resolve(root, h)
		if err != nil || seen[r] {
			return
		}
		if fi, err := os.Stat(fsroot.Join(root, r)); err != nil || !fi.IsDir() {
			return
		}
		seen[r] = true
		out = append(out, r)
	}
	for _, a := range us {
		add(a.Home)
	}
	add("/root")
	for _, base := range []string{"/home", "/Users"} {
		ents, err := os.ReadDir(fsroot.Join(root, base))
		if err != nil {
			continue
		}
		for _, e := range ents {
			add(path.Join(base, e.Name()))
		}
	}
	sort.Strings(out)
	return out
}

func exists(hp string) bool {
	_, err := os.Stat(hp)
	return err == nil
}
