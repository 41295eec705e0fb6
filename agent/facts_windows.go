//go:build windows

package agent

import (
	"strings"

	"golang.org/x/sys/windows/registry"
)

// platformMachineID is the MachineGuid Windows keeps for the installation
// (the id inventory tools such as osquery report); --root does not apply.
func platformMachineID(string) string {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Cryptography`, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return ""
	}
	defer k.Close()
	v, _, err := k.GetStringValue("MachineGuid")
	if err != nil {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(v))
}

// platformOSVersion is e.g. "Windows 10 Pro 22H2 (build 19045)".
func platformOSVersion(string) string {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Windows NT\CurrentVersion`, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return ""
	}
	defer k.Close()
	name, _, _ := k.GetStringValue("ProductName")
	if name == "" {
		return ""
	}
	if dv, _, err := k.GetStringValue("DisplayVersion"); err == nil && dv != "" {
		name += " " + dv
	}
	if b, _, err := k.GetStringValue("CurrentBuild"); err == nil && b != "" {
		name += " (build " + b + ")"
	}
	return name
}
