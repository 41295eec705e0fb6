package windows

import "github.com/anchorwatch/anchorwatch/stores"

// The system stores Anchorwatch manages.
const (
	StoreRoot = "ROOT" // Trusted Root Certification Authorities
	StoreCA   = "CA"   // Intermediate Certification Authorities
)

// ID returns the store id of the LocalMachine system store name.
func ID(name string) string { return string(stores.KindWindows) + `:LocalMachine\` + name }

// Registry keys (under HKLM) of the physical stores of system store name.
func machineKey(name string) string { return `SOFTWARE\Microsoft\SystemCertificates\` + name }

// GPOKey is the Group Policy physical store key of system store name.
func GPOKey(name string) string {
	if name == StoreRoot {
		name = "Root" // the spelling Group Policy writes
	}
	return `SOFTWARE\Policies\Microsoft\SystemCertificates\` + name
}

func enterpriseKey(name string) string { return `SOFTWARE\Microsoft\EnterpriseCertificates\` + name }

// WatchKeys are the HKLM keys whose changes may change system store name:
// its registry physical store, its Group Policy and Enterprise stores, and
// Disallowed (which changes what is trusted).
func WatchKeys(name string) []string {
	return []string{machineKey(name), GPOKey(name), enterpriseKey(name), machineKey("Disallowed")}
}

func info(name string) stores.Info {
	return stores.Info{
		ID:       ID(name),
		Kind:     stores.KindWindows,
		Path:     `LocalMachine\` + name,
		Format:   "crypt32",
		Writable: true,
	}
}

// IsHostRoot reports whether root (stores.Env.Root) names the running
// host's own filesystem: "/", or a bare drive root such as `C:\` (what
// filepath.Abs("/") gives on Windows). Only then do the crypt32 stores,
// which always belong to the running host, apply.
func IsHostRoot(root string) bool {
	switch root {
	case "", "/", `\`:
		return true
	}
	if len(root) < 2 || len(root) > 3 || root[1] != ':' {
		return false
	}
	d := root[0] | 0x20
	if d < 'a' || d > 'z' {
		return false
	}
	return len(root) == 2 || root[2] == '\\' || root[2] == '/'
}
