//go:build windows

package main

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/stores"
	winstore "github.com/anchorwatch/anchorwatch/stores/windows"
)

func run(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: wintest list|raw|install|remove|notify NAME [ARG]")
	}
	ctx := context.Background()
	cmd, name := args[0], args[1]
	s := winstore.New(name, stores.Env{})
	arg := func() (string, error) {
		if len(args) < 3 {
			return "", fmt.Errorf("%s needs an argument", cmd)
		}
		return args[2], nil
	}
	if c, ok := storeCommands(ctx, s, name)[cmd]; ok {
		a := ""
		if c.arg {
			var err error
			if a, err = arg(); err != nil {
				return err
			}
		}
		v, err := c.run(a)
		if err != nil {
			return err
		}
		return out(v)
	}
	switch cmd {
	case "eku", "chain":
		f, err := arg()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			return fmt.Errorf("%s: not PEM", f)
		}
		if cmd == "chain" {
			if len(args) < 4 {
				return errors.New("chain needs FILE USAGE")
			}
			return chainCheck(blk.Bytes, args[3])
		}
		return storeEKU(name, blk.Bytes)
	case "blobeku":
		blob, err := hex.DecodeString(name)
		if err != nil {
			return err
		}
		return blobEKU(blob)
	case "notify":
		f, err := arg()
		if err != nil {
			return err
		}
		certs, err := policy.LoadCAFile(f)
		if err != nil {
			return err
		}
		return notify(ctx, s, name, certs[0])
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// storeCommand is a command whose result is printed as JSON; arg says
// whether it takes the argument after the store name.
type storeCommand struct {
	arg bool
	run func(arg string) (any, error)
}

// storeCommands are the commands that call the adapter (or bare crypt32,
// raw) and print what it returned.
func storeCommands(ctx context.Context, s *winstore.Store, name string) map[string]storeCommand {
	opt := stores.Options{}
	return map[string]storeCommand{
		"list":       {run: func(string) (any, error) { return result(s.List(ctx)) }},
		"raw":        {run: func(string) (any, error) { return result(raw(name)) }},
		"distrusted": {run: func(string) (any, error) { return result(s.Distrusted(ctx)) }},
		"install": {arg: true, run: withCAs(func(certs []*x509.Certificate) (any, error) {
			return result(s.Install(ctx, certs, opt))
		})},
		"distrust": {arg: true, run: withCAs(func(certs []*x509.Certificate) (any, error) {
			return result(s.Distrust(ctx, certs, opt))
		})},
		"remove":     {arg: true, run: func(fp string) (any, error) { return result(s.Remove(ctx, []string{fp}, opt)) }},
		"undistrust": {arg: true, run: func(fp string) (any, error) { return result(s.Undistrust(ctx, []string{fp}, opt)) }},
	}
}

// withCAs is a command on the certificates of the CA file its argument
// names.
func withCAs(fn func([]*x509.Certificate) (any, error)) func(string) (any, error) {
	return func(f string) (any, error) {
		certs, err := policy.LoadCAFile(f)
		if err != nil {
			return nil, err
		}
		return fn(certs)
	}
}

// result makes a typed result printable.
func result[T any](v T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

func out(v any) error {
	e := json.NewEncoder(os.Stdout)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

func open(name string, write bool) (windows.Handle, error) {
	p, _ := windows.UTF16PtrFromString(name)
	prov, flags := uintptr(windows.CERT_STORE_PROV_SYSTEM_W), uint32(windows.CERT_SYSTEM_STORE_LOCAL_MACHINE)
	if write {
		prov = windows.CERT_STORE_PROV_SYSTEM_REGISTRY_W
	} else {
		flags |= windows.CERT_STORE_READONLY_FLAG
	}
	return windows.CertOpenStore(prov, 0, 0, flags, uintptr(unsafe.Pointer(p)))
}

// raw lists the system store with nothing but crypt32, for comparison
// with the adapter's List.
func raw(name string) ([]string, error) {
	h, err := open(name, false)
	if err != nil {
		return nil, err
	}
	defer windows.CertCloseStore(h, 0)
	fps := []string{}
	var c *windows.CertContext
	for {
		c, _ = windows.CertEnumCertificatesInStore(h, c)
		if c == nil {
			return fps, nil
		}
		sum := sha256.Sum256(unsafe.Slice(c.EncodedCert, c.Length))
		fps = append(fps, hex.EncodeToString(sum[:]))
	}
}

func find(h windows.Handle, c *x509.Certificate) (*windows.CertContext, error) {
	sum := sha1.Sum(c.Raw)
	blob := windows.CryptDataBlob{Size: 20, Data: &sum[0]}
	return windows.CertFindCertificateInStore(h, windows.X509_ASN_ENCODING, 0, windows.CERT_FIND_SHA1_HASH, unsafe.Pointer(&blob), nil)
}

// notify runs the adapter's notifier and changes the store with bare
// crypt32 (add, delete, add, ...) until two signals arrived: the second
// proves the notifier re-armed itself after the first.
func notify(ctx context.Context, s *winstore.Store, name string, c *x509.Certificate) error {
	n := s.Watch().Notifier.(*winstore.Notifier)
	n.Rescan = time.Hour // only real notifications count here
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changed := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() { done <- n.Notify(ctx, changed) }()
	present := false
	// Each change opens and closes the store: Wine writes the registry
	// when the store is closed.
	toggle := func() error {
		h, err := open(name, true)
		if err != nil {
			return err
		}
		defer windows.CertCloseStore(h, 0)
		if present {
			ctx, err := find(h, c)
			if ctx == nil {
				return fmt.Errorf("find: %w", err)
			}
			present = false
			return windows.CertDeleteCertificateFromStore(ctx)
		}
		cc, err := windows.CertCreateCertificateContext(windows.X509_ASN_ENCODING, &c.Raw[0], uint32(len(c.Raw)))
		if err != nil {
			return err
		}
		defer windows.CertFreeCertificateContext(cc)
		present = true
		return windows.CertAddCertificateContextToStore(h, cc, windows.CERT_STORE_ADD_REPLACE_EXISTING, nil)
	}
	deadline := time.After(60 * time.Second)
	for got := 0; got < 2; {
		if err := toggle(); err != nil {
			return fmt.Errorf("change the store: %w", err)
		}
		select {
		case <-changed:
			got++
			fmt.Printf("signal %d\n", got)
		case err := <-done:
			return fmt.Errorf("notifier stopped: %v", err)
		case <-time.After(500 * time.Millisecond):
		case <-deadline:
			return fmt.Errorf("no notification after 60s (%d signals)", got)
		}
	}
	if present {
		if err := toggle(); err != nil {
			return err
		}
	}
	cancel()
	if err := <-done; err != nil {
		return fmt.Errorf("notifier: %w", err)
	}
	fmt.Println("stopped")
	return nil
}
