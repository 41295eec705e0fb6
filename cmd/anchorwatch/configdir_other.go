//go:build !windows

package main

import (
	"fmt"
	"os"
	"syscall"
)

// secureConfigDir makes dir (mode 0755) if needed and refuses one that is
// a link, or that anyone but its owner may write; run as root, the owner
// must be root. The files configure writes are 0600.
func secureConfigDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := refuseLink(dir); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (%v): chmod go-w it", dir, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 && st.Uid != 0 {
		return fmt.Errorf("%s belongs to uid %d, not root: whoever owns it can change the agent's config", dir, st.Uid)
	}
	return nil
}
