//go:build linux

package java

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/java/javatest"
)

// The test binary doubles as a helper process: with AW_JAVA_HELPER set it
// runs one keystore operation and exits instead of running tests.
//
//	toggle   install the CA of AW_CA into AW_PATH if absent, else remove it
//	readonly bind-mount AW_PATH's directory read-only (in the private mount
//	         namespace the parent gave us), then try to install
func TestMain(m *testing.M) {
	if mode := os.Getenv("AW_JAVA_HELPER"); mode != "" {
		os.Exit(helperMain(mode))
	}
	os.Exit(m.Run())
}

func helperMain(mode string) int {
	root, p := os.Getenv("AW_ROOT"), os.Getenv("AW_PATH")
	certs, err := policy.LoadCAFile(os.Getenv("AW_CA"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s, err := Open(stores.Env{Root: root}, p)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s.settle = 0
	ctx := context.Background()
	switch mode {
	case "toggle":
		as, err := s.List(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if _, ok := findAnchor(as, certs[0]); ok {
			_, err = s.Remove(ctx, []string{stores.SHA256(certs[0])}, stores.Options{})
		} else {
			_, err = s.Install(ctx, certs, stores.Options{})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "readonly":
		dir := filepath.Dir(fsrootJoin(root, s.Info().Path))
		if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
			fmt.Fprintln(os.Stderr, "bind mount:", err)
			return 1
		}
		if err := syscall.Mount(dir, dir, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			fmt.Fprintln(os.Stderr, "remount read-only:", err)
			return 1
		}
		s, _ = Open(stores.Env{Root: root}, p)
		fmt.Printf("writable=%v\n", s.Info().Writable)
		_, err := s.Install(ctx, certs, stores.Options{})
		fmt.Printf("install error: %v\n", err)
		if err != nil {
			return 3
		}
		return 0
	}
	return 1
}

func fsrootJoin(root, p string) string { return hostPath(root, p) }

type jdkT = javatest.JDK

func strconvItoa(i int) string { return strconv.Itoa(i) }
