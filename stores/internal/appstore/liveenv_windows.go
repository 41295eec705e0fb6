package appstore

import (
	"golang.org/x/sys/windows/registry"

	"github.com/anchorwatch/anchorwatch/stores"
)

// MachineEnvironmentKey is the machine environment under HKLM.
const MachineEnvironmentKey = `SYSTEM\CurrentControlSet\Control\Session Manager\Environment`

// MachineEnvironmentSource names it in reports.
const MachineEnvironmentSource = `HKLM\` + MachineEnvironmentKey

// liveEnv reads the machine environment of the running host (only when
// the root is the host's own).
func liveEnv(env stores.Env) []EnvVar {
	if !IsLiveRoot(env.Root) {
		return nil
	}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, MachineEnvironmentKey, registry.QUERY_VALUE)
	if err != nil {
		return nil
	}
	defer k.Close()
	names, err := k.ReadValueNames(0)
	if err != nil {
		return nil
	}
	var out []EnvVar
	for _, n := range names {
		v, typ, err := k.GetStringValue(n)
		if err != nil {
			continue
		}
		if typ == registry.EXPAND_SZ {
			if x, err := registry.ExpandString(v); err == nil {
				v = x
			}
		}
		out = append(out, EnvVar{Name: n, Value: v, Source: MachineEnvironmentSource})
	}
	return out
}
