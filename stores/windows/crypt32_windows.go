//go:build windows

package windows

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// Calls golang.org/x/sys/windows does not wrap.
var (
	modcrypt32                           = windows.NewLazySystemDLL("crypt32.dll")
	procCertAddEncodedCertificateToStore = modcrypt32.NewProc("CertAddEncodedCertificateToStore")
	procCertGetCertificateContextProp    = modcrypt32.NewProc("CertGetCertificateContextProperty")
	procCertSetCertificateContextProp    = modcrypt32.NewProc("CertSetCertificateContextProperty")
)

const encoding = windows.X509_ASN_ENCODING | windows.PKCS_7_ASN_ENCODING

// openSystem opens LocalMachine system store name. With write false it
// opens the whole system store read-only (every physical store Windows
// trusts); with write true only the registry physical store, so a write
// or delete can never reach a Group Policy copy.
func openSystem(name string, write bool) (windows.Handle, error) {
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return 0, err
	}
	prov := uintptr(windows.CERT_STORE_PROV_SYSTEM_W)
	flags := uint32(windows.CERT_SYSTEM_STORE_LOCAL_MACHINE)
	if write {
		prov = windows.CERT_STORE_PROV_SYSTEM_REGISTRY_W
	} else {
		flags |= windows.CERT_STORE_READONLY_FLAG | windows.CERT_STORE_OPEN_EXISTING_FLAG
	}
	h, err := windows.CertOpenStore(prov, 0, 0, flags, uintptr(unsafe.Pointer(p)))
	if err != nil {
		return 0, fmt.Errorf(`open LocalMachine\%s: %w`, name, err)
	}
	return h, nil
}

// enumerate calls fn with every certificate context of h.
func enumerate(h windows.Handle, fn func(c *windows.CertContext) error) error {
	var c *windows.CertContext
	for {
		next, err := windows.CertEnumCertificatesInStore(h, c)
		if next == nil {
			if err != nil && !errors.Is(err, windows.Errno(windows.CRYPT_E_NOT_FOUND)) && !errors.Is(err, windows.ERROR_NO_MORE_FILES) {
				return fmt.Errorf("enumerate certificates: %w", err)
			}
			return nil
		}
		c = next
		if err := fn(c); err != nil {
			windows.CertFreeCertificateContext(c)
			return err
		}
	}
}

func derOf(c *windows.CertContext) []byte {
	return append([]byte(nil), unsafe.Slice(c.EncodedCert, c.Length)...)
}

// property returns a certificate context property, or ok false if unset.
func property(c *windows.CertContext, id uint32) (val []byte, ok bool) {
	var n uint32
	r, _, _ := procCertGetCertificateContextProp.Call(uintptr(unsafe.Pointer(c)), uintptr(id), 0, uintptr(unsafe.Pointer(&n)))
	if r == 0 {
		return nil, false
	}
	if n == 0 {
		return []byte{}, true
	}
	buf := make([]byte, n)
	r, _, _ = procCertGetCertificateContextProp.Call(uintptr(unsafe.Pointer(c)), uintptr(id), uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)))
	if r == 0 {
		return nil, false
	}
	return buf[:n], true
}

// readSystem reads every certificate of LocalMachine system store name
// through crypt32. A store that does not exist is empty.
func readSystem(name string) ([]Entry, error) {
	h, err := openSystem(name, false)
	if err != nil {
		if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) {
			return nil, nil
		}
		return nil, err
	}
	defer windows.CertCloseStore(h, 0)
	var out []Entry
	err = enumerate(h, func(c *windows.CertContext) error {
		e := Entry{DER: derOf(c), Source: SourceMachine, Props: map[uint32][]byte{}}
		for _, id := range []uint32{PropEKU, PropFriendlyName} {
			if v, ok := property(c, id); ok {
				e.Props[id] = v
			}
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf(`LocalMachine\%s: %w`, name, err)
	}
	return out, nil
}

// readMachineRegistry returns the SHA-256s in the writable registry
// physical store of name.
func readMachineRegistry(name string) (map[string]bool, error) {
	es, err := machineEntries(name)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range es {
		sum := sha256.Sum256(e.DER)
		out[hex.EncodeToString(sum[:])] = true
	}
	return out, nil
}

// machineEntries returns the certificates of the writable registry
// physical store of name.
func machineEntries(name string) ([]Entry, error) {
	h, err := openSystem(name, true)
	if err != nil {
		return nil, err
	}
	defer windows.CertCloseStore(h, 0)
	var out []Entry
	err = enumerate(h, func(c *windows.CertContext) error {
		out = append(out, Entry{DER: derOf(c), Source: SourceMachine})
		return nil
	})
	return out, err
}

// readRegistryStore decodes every certificate blob under
// HKLM\<key>\Certificates (the Group Policy and Enterprise physical
// stores). A missing key is an empty store.
func readRegistryStore(key string, src Source) ([]Entry, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key+`\Certificates`, registry.ENUMERATE_SUB_KEYS|registry.QUERY_VALUE)
	if err != nil {
		if errors.Is(err, registry.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf(`HKLM\%s: %w`, key, err)
	}
	defer k.Close()
	names, err := k.ReadSubKeyNames(-1)
	if err != nil {
		return nil, fmt.Errorf(`HKLM\%s: %w`, key, err)
	}
	var out []Entry
	for _, n := range names {
		sk, err := registry.OpenKey(k, n, registry.QUERY_VALUE)
		if err != nil {
			return nil, fmt.Errorf(`HKLM\%s\Certificates\%s: %w`, key, n, err)
		}
		v, _, err := sk.GetBinaryValue("Blob")
		sk.Close()
		if err != nil {
			return nil, fmt.Errorf(`HKLM\%s\Certificates\%s\Blob: %w`, key, n, err)
		}
		b, err := DecodeBlob(v)
		if err != nil {
			return nil, fmt.Errorf(`HKLM\%s\Certificates\%s\Blob: %w`, key, n, err)
		}
		out = append(out, Entry{DER: b.DER, Source: src, Props: b.Props})
	}
	return out, nil
}

// addEncoded adds (or replaces) der in the registry physical store h and,
// when eku is not nil, sets its CERT_ENHKEY_USAGE_PROP_ID property to eku
// (stored with the certificate: Windows then trusts it for those
// purposes only).
func addEncoded(h windows.Handle, der, eku []byte) error {
	var ctx *windows.CertContext
	r, _, err := procCertAddEncodedCertificateToStore.Call(uintptr(h), encoding,
		uintptr(unsafe.Pointer(&der[0])), uintptr(len(der)), windows.CERT_STORE_ADD_REPLACE_EXISTING, uintptr(unsafe.Pointer(&ctx)))
	if r == 0 {
		return fmt.Errorf("CertAddEncodedCertificateToStore: %w", err)
	}
	defer windows.CertFreeCertificateContext(ctx)
	if eku == nil {
		return nil
	}
	blob := windows.CryptDataBlob{Size: uint32(len(eku)), Data: &eku[0]}
	r, _, err = procCertSetCertificateContextProp.Call(uintptr(unsafe.Pointer(ctx)), PropEKU, 0, uintptr(unsafe.Pointer(&blob)))
	if r == 0 {
		return fmt.Errorf("CertSetCertificateContextProperty(CERT_ENHKEY_USAGE_PROP_ID): %w", err)
	}
	return nil
}

// deleteBySHA256 finds the certificate by the SHA-1 of its DER (what
// crypt32 indexes), checks its SHA-256, and deletes it from h.
func deleteBySHA256(h windows.Handle, fp string, der []byte) error {
	sum := sha1.Sum(der)
	blob := windows.CryptDataBlob{Size: uint32(len(sum)), Data: &sum[0]}
	c, err := windows.CertFindCertificateInStore(h, encoding, 0, windows.CERT_FIND_SHA1_HASH, unsafe.Pointer(&blob), nil)
	if c == nil {
		return fmt.Errorf("find sha1 %x: %w", sum, err)
	}
	got := sha256.Sum256(unsafe.Slice(c.EncodedCert, c.Length))
	if hex.EncodeToString(got[:]) != fp {
		windows.CertFreeCertificateContext(c)
		return fmt.Errorf("find sha1 %x: found a certificate whose SHA-256 is not %s", sum, fp)
	}
	if err := windows.CertDeleteCertificateFromStore(c); err != nil { // frees c
		return fmt.Errorf("CertDeleteCertificateFromStore: %w", err)
	}
	return nil
}
