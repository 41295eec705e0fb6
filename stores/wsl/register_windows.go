package wsl

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/windows/registry"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/internal/appstore"
)

func init() {
	stores.Register(stores.Adapter{Kind: stores.KindWSL, Discover: Discover})
}

// lxss is where WSL registers a user's distributions, under the user's
// hive.
const lxss = `Software\Microsoft\Windows\CurrentVersion\Lxss`

// Discover returns a store per WSL distribution registered in any loaded
// user hive (HKEY_USERS\<SID>), or only the caller's (HKCU) when that is
// all it can read. Only the running host has them: under another root
// there is nothing to find.
func Discover(ctx context.Context, env stores.Env) ([]stores.Store, error) {
	env = env.Normalize()
	if !appstore.IsLiveRoot(env.Root) {
		return nil, nil
	}
	var ds []Distro
	seen := map[string]bool{}
	for _, sid := range userHives() {
		k, err := registry.OpenKey(registry.USERS, sid+`\`+lxss, registry.ENUMERATE_SUB_KEYS|registry.QUERY_VALUE)
		if err != nil {
			continue
		}
		ds = append(ds, distros(k, sid, seen)...)
		k.Close()
	}
	if k, err := registry.OpenKey(registry.CURRENT_USER, lxss, registry.ENUMERATE_SUB_KEYS|registry.QUERY_VALUE); err == nil {
		ds = append(ds, distros(k, "current user", seen)...)
		k.Close()
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].Name < ds[j].Name })
	out := make([]stores.Store, 0, len(ds))
	for _, d := range ds {
		out = append(out, NewStore(d))
	}
	return out, ctx.Err()
}

// userHives lists the loaded user hives (SIDs), without their _Classes.
func userHives() []string {
	k, err := registry.OpenKey(registry.USERS, "", registry.ENUMERATE_SUB_KEYS)
	if err != nil {
		return nil
	}
	defer k.Close()
	names, _ := k.ReadSubKeyNames(0)
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, "S-1-5-21-") && !strings.HasSuffix(n, "_Classes") {
			out = append(out, n)
		}
	}
	return out
}

// distros reads the {GUID} subkeys of one Lxss key.
func distros(k registry.Key, owner string, seen map[string]bool) []Distro {
	ids, _ := k.ReadSubKeyNames(0)
	var out []Distro
	for _, id := range ids {
		dk, err := registry.OpenKey(k, id, registry.QUERY_VALUE)
		if err != nil {
			continue
		}
		name, _, _ := dk.GetStringValue("DistributionName")
		base, _, _ := dk.GetStringValue("BasePath")
		ver, _, err := dk.GetIntegerValue("Version")
		dk.Close()
		if name == "" || seen[owner+"\x00"+name] {
			continue
		}
		seen[owner+"\x00"+name] = true
		if err != nil {
			ver = 2
		}
		out = append(out, locate(Distro{Name: name, Version: int(ver), Owner: owner}, strings.TrimPrefix(base, `\\?\`)))
	}
	return out
}

// locate finds the root file system: BasePath\rootfs for WSL 1, the
// \\wsl.localhost share (then \\wsl$) of a running WSL 2 distribution.
func locate(d Distro, base string) Distro {
	var cands []string
	if d.Version == 1 {
		cands = append(cands, filepath.Join(base, "rootfs"))
	}
	cands = append(cands, `\\wsl.localhost\`+d.Name, `\\wsl$\`+d.Name)
	for _, c := range cands {
		if fi, err := os.Stat(filepath.Join(c, "etc")); err == nil && fi.IsDir() {
			d.RootFS = c
			return d
		}
	}
	d.Note = fmt.Sprintf("WSL %d distribution %s cannot be read from Windows now (a WSL 2 distribution is reachable only while it runs, for its user): run anchorwatch audit inside it (wsl -d %s -- anchorwatch audit --ca …)", d.Version, d.Name, d.Name)
	return d
}
