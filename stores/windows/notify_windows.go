//go:build windows

package windows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// Notifier implements stores.Notifier with RegNotifyChangeKeyValue on HKLM
// keys. A key that does not exist yet (no Group Policy store) is watched
// through its nearest existing parent, so its creation is seen. Every
// wait is re-armed after its signal; Rescan (0 means DefaultRescan) makes
// it signal anyway when nothing was notified for that long.
type Notifier struct {
	Keys   []string // paths under HKLM
	Rescan time.Duration
}

type watch struct {
	key   registry.Key
	event windows.Handle
}

func (w *watch) close() {
	if w.key != 0 {
		w.key.Close()
	}
	if w.event != 0 {
		windows.CloseHandle(w.event)
	}
}

// arm opens the nearest existing ancestor of path and asks for a signal on
// any change of names or values below it.
func arm(path string) (*watch, error) {
	p := path
	for {
		k, err := registry.OpenKey(registry.LOCAL_MACHINE, p, windows.KEY_NOTIFY)
		if err == nil {
			ev, err := windows.CreateEvent(nil, 0, 0, nil)
			if err != nil {
				k.Close()
				return nil, fmt.Errorf("CreateEvent: %w", err)
			}
			w := &watch{key: k, event: ev}
			filter := uint32(windows.REG_NOTIFY_CHANGE_NAME | windows.REG_NOTIFY_CHANGE_LAST_SET)
			if err := windows.RegNotifyChangeKeyValue(windows.Handle(k), true, filter, ev, true); err != nil {
				w.close()
				return nil, fmt.Errorf(`RegNotifyChangeKeyValue HKLM\%s: %w`, p, err)
			}
			return w, nil
		}
		if !errors.Is(err, registry.ErrNotExist) {
			return nil, fmt.Errorf(`open HKLM\%s: %w`, p, err)
		}
		i := strings.LastIndexByte(p, '\\')
		if i < 0 {
			return nil, fmt.Errorf(`HKLM\%s: %w`, path, errNoKey)
		}
		p = p[:i]
	}
}

// Notify implements stores.Notifier.
func (n *Notifier) Notify(ctx context.Context, changed chan<- struct{}) error {
	rescan := n.Rescan
	if rescan <= 0 {
		rescan = DefaultRescan
	}
	cancel, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return fmt.Errorf("windows notifier: CreateEvent: %w", err)
	}
	defer windows.CloseHandle(cancel)
	stop := context.AfterFunc(ctx, func() { windows.SetEvent(cancel) })
	defer stop()

	watches := make([]*watch, len(n.Keys))
	defer func() {
		for _, w := range watches {
			if w != nil {
				w.close()
			}
		}
	}()
	for i, k := range n.Keys {
		if watches[i], err = arm(k); err != nil {
			return fmt.Errorf("windows notifier: %w", err)
		}
	}
	send := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	ms := uint32(rescan / time.Millisecond)
	for {
		handles := []windows.Handle{cancel}
		for _, w := range watches {
			handles = append(handles, w.event)
		}
		ev, err := windows.WaitForMultipleObjects(handles, false, ms)
		switch {
		case err != nil:
			return fmt.Errorf("windows notifier: WaitForMultipleObjects: %w", err)
		case ev == uint32(windows.WAIT_TIMEOUT):
			send() // periodic rescan
		case ev == windows.WAIT_OBJECT_0:
			return nil
		case ev > windows.WAIT_OBJECT_0 && ev < windows.WAIT_OBJECT_0+uint32(len(handles)):
			i := int(ev-windows.WAIT_OBJECT_0) - 1
			// Re-arm before signalling so no change between the two is
			// lost; re-resolve the key in case it was created or deleted.
			watches[i].close()
			if watches[i], err = arm(n.Keys[i]); err != nil {
				return fmt.Errorf("windows notifier: re-arm: %w", err)
			}
			send()
		default:
			return fmt.Errorf("windows notifier: unexpected wait result %#x", ev)
		}
	}
}
