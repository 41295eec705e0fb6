//go:build linux

package apptest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Login runs script in a login session of u the way pam_env builds it:
// in a private mount namespace the root's /etc/environment (and, when
// present, its /etc/environment.d and any of binds, directories of the
// root mounted at the same path on the host) is bind-mounted over the
// host's, then `su -l` starts a login shell, whose PAM stack (Debian's
// /etc/pam.d/su: pam_env readenv=1) reads /etc/environment. Nothing
// changes outside the namespace.
func Login(t testing.TB, root string, u User, script string, binds ...string) (string, error) {
	t.Helper()
	var mounts []string
	mount := func(src, dst string) {
		mounts = append(mounts, fmt.Sprintf("mount --bind %q %q", src, dst))
	}
	if _, err := os.Stat(filepath.Join(root, "etc/environment")); err == nil {
		mount(filepath.Join(root, "etc/environment"), "/etc/environment")
	} else {
		mount("/dev/null", "/etc/environment")
	}
	if _, err := os.Stat(filepath.Join(root, "etc/environment.d")); err == nil {
		mount(filepath.Join(root, "etc/environment.d"), "/etc/environment.d")
	}
	for _, b := range binds {
		mount(filepath.Join(root, b), b)
	}
	inner := strings.Join(mounts, " && ") + fmt.Sprintf(" && exec su -l %s -s /bin/sh -c %q", u.Name, script)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c", inner).CombinedOutput()
	return string(out), err
}
