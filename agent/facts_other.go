//go:build !windows

package agent

import (
	"bufio"
	"os"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// platformMachineID is systemd's machine id (or D-Bus's) under root.
func platformMachineID(root string) string {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := fsroot.ReadFileIn(root, p, fsroot.Want{Max: maxSmallFile}); err == nil {
			if id := strings.TrimSpace(string(b)); id != "" {
				return id
			}
		}
	}
	return ""
}

// platformOSVersion is os-release's PRETTY_NAME under root.
func platformOSVersion(root string) string {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		if v := prettyName(fsroot.Join(root, p)); v != "" {
			return v
		}
	}
	return ""
}

func prettyName(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}
