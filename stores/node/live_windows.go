package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/internal/appstore"
	winstore "github.com/anchorwatch/anchorwatch/stores/windows"
)

// WindowsBundle is our bundle inside the root on Windows.
const WindowsBundle = "/ProgramData/Anchorwatch/extra-ca-certs.pem"

// liveSources is the machine environment of the running host.
func liveSources(env stores.Env) []EnvSource {
	if !appstore.IsLiveRoot(env.Root) {
		return nil
	}
	return []EnvSource{machineEnv{}}
}

// rootIsLiveWindows reports whether the root is this Windows host ("/",
// the current drive), whose environment is the registry's, not a file's.
func rootIsLiveWindows(env stores.Env) bool { return appstore.IsLiveRoot(env.Root) }

// machineEnv is HKLM's environment: every process that Explorer, a
// service or a new console starts after the change inherits it.
type machineEnv struct{}

func (machineEnv) Where() string  { return appstore.MachineEnvironmentSource }
func (machineEnv) Format() string { return "NODE_EXTRA_CA_CERTS in the machine environment (registry)" }

func (machineEnv) Bundle() (string, string) {
	pd := os.Getenv("ProgramData")
	if pd == "" {
		pd = `C:\ProgramData`
	}
	return WindowsBundle, filepath.Join(pd, "Anchorwatch", "extra-ca-certs.pem")
}

// RootOf is the drive the value names (C:\ for C:\ProgramData\…): paths
// in the machine environment are the host's, whatever --root says.
func (machineEnv) RootOf(value string) string {
	if v := filepath.VolumeName(value); v != "" {
		return v + `\`
	}
	return `C:\`
}

func (machineEnv) Get(context.Context) (string, bool, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, appstore.MachineEnvironmentKey, registry.QUERY_VALUE)
	if err != nil {
		return "", false, err
	}
	defer k.Close()
	v, typ, err := k.GetStringValue(Variable)
	if errors.Is(err, registry.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if typ == registry.EXPAND_SZ {
		if x, err := registry.ExpandString(v); err == nil {
			v = x
		}
	}
	return v, true, nil
}

func (machineEnv) Set(_ context.Context, value string, dryRun bool) error {
	if dryRun {
		return nil
	}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, appstore.MachineEnvironmentKey, registry.SET_VALUE)
	if err != nil {
		return err
	}
	defer k.Close()
	if err := k.SetStringValue(Variable, value); err != nil {
		return err
	}
	broadcast()
	return nil
}

func (machineEnv) Unset(_ context.Context, dryRun bool) error {
	if dryRun {
		return nil
	}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, appstore.MachineEnvironmentKey, registry.SET_VALUE)
	if err != nil {
		return err
	}
	defer k.Close()
	if err := k.DeleteValue(Variable); err != nil && !errors.Is(err, registry.ErrNotExist) {
		return err
	}
	broadcast()
	return nil
}

func (machineEnv) Watch() stores.WatchSpec {
	return stores.WatchSpec{Notifier: &winstore.Notifier{Keys: []string{appstore.MachineEnvironmentKey}}}
}

var (
	user32              = windows.NewLazySystemDLL("user32.dll")
	sendMessageTimeoutW = user32.NewProc("SendMessageTimeoutW")
)

// broadcast tells running programs (Explorer first) that the environment
// changed, so what they start next inherits it; it waits at most 5 s for
// windows that do not answer.
func broadcast() {
	const (
		hwndBroadcast   = 0xffff
		wmSettingChange = 0x001A
		smtoAbortIfHung = 0x0002
	)
	env, _ := windows.UTF16PtrFromString("Environment")
	var result uintptr
	sendMessageTimeoutW.Call(hwndBroadcast, wmSettingChange, 0, uintptr(unsafe.Pointer(env)), smtoAbortIfHung, 5000, uintptr(unsafe.Pointer(&result)))
}
