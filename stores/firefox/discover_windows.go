//go:build windows

package firefox

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows/registry"

	"github.com/anchorwatch/anchorwatch/stores"
	winstore "github.com/anchorwatch/anchorwatch/stores/windows"
)

// RegistryPolicyKey holds Firefox's Group Policy settings (HKLM).
const RegistryPolicyKey = `SOFTWARE\Policies\Mozilla\Firefox\Certificates`

// registryEnterpriseRoots reads ImportEnterpriseRoots from the registry.
func registryEnterpriseRoots() (value, set bool, err error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, RegistryPolicyKey, registry.QUERY_VALUE)
	if errors.Is(err, registry.ErrNotExist) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	defer k.Close()
	v, _, err := k.GetIntegerValue("ImportEnterpriseRoots")
	if errors.Is(err, registry.ErrNotExist) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	return v != 0, true, nil
}

// discover returns distribution\policies.json of each Firefox install
// under Program Files, in ImportEnterpriseRoots mode over LocalMachine ROOT.
func discover(ctx context.Context, env stores.Env) ([]stores.Store, error) {
	env = env.Normalize()
	osStore := winstore.New(winstore.StoreRoot, env)
	var out []stores.Store
	seen := map[string]bool{}
	for _, pf := range []string{os.Getenv("ProgramFiles"), os.Getenv("ProgramFiles(x86)")} {
		if pf == "" {
			continue
		}
		for _, app := range []string{"Mozilla Firefox", "Firefox Developer Edition", "Firefox Nightly"} {
			dir := filepath.Join(pf, app)
			if _, err := os.Stat(filepath.Join(dir, "firefox.exe")); err != nil || seen[dir] {
				continue
			}
			seen[dir] = true
			out = append(out, New(Config{
				Path: filepath.Join(dir, "distribution", "policies.json"), Mode: ModeEnterpriseRoots,
				OS: osStore, Registry: registryEnterpriseRoots, Native: true,
			}, env))
		}
	}
	return out, nil
}
