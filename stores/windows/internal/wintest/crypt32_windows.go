//go:build windows

package main

import (
	"crypto/sha1"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Calls made here with crypt32 alone, so the tests check the adapter's
// work with Windows' (Wine's) own reading of the store.
var (
	crypt32                  = windows.NewLazySystemDLL("crypt32.dll")
	procGetEnhancedKeyUsage  = crypt32.NewProc("CertGetEnhancedKeyUsage")
	procAddSerializedElement = crypt32.NewProc("CertAddSerializedElementToStore")
	procGetContextProperty   = crypt32.NewProc("CertGetCertificateContextProperty")
)

// ekuReport is what crypt32 says of one certificate context.
type ekuReport struct {
	Found bool `json:"found"`
	// PropOIDs are the usages CertGetEnhancedKeyUsage returns from the
	// CERT_ENHKEY_USAGE_PROP_ID property alone (nil: no property); Prop is
	// the raw property from CertGetCertificateContextProperty, hex.
	PropOIDs []string `json:"prop_oids"`
	Prop     string   `json:"prop"`
	// AllOIDs are the usages CertGetEnhancedKeyUsage returns overall (the
	// property and the extension); Restricted false means "every usage".
	AllOIDs    []string `json:"all_oids"`
	Restricted bool     `json:"restricted"`
}

// usages calls CertGetEnhancedKeyUsage with flags.
func usages(c *windows.CertContext, flags uint32) (oids []string, restricted, ok bool) {
	var n uint32
	if r, _, _ := procGetEnhancedKeyUsage.Call(uintptr(unsafe.Pointer(c)), uintptr(flags), 0, uintptr(unsafe.Pointer(&n))); r == 0 {
		return nil, false, false
	}
	buf := make([]byte, n)
	if r, _, _ := procGetEnhancedKeyUsage.Call(uintptr(unsafe.Pointer(c)), uintptr(flags), uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n))); r == 0 {
		return nil, false, false
	}
	u := (*windows.CertEnhKeyUsage)(unsafe.Pointer(&buf[0]))
	if u.Length > 0 {
		for _, p := range unsafe.Slice(u.UsageIdentifiers, u.Length) {
			oids = append(oids, windows.BytePtrToString(p))
		}
	}
	return oids, u.Length > 0, true
}

func report(c *windows.CertContext) ekuReport {
	r := ekuReport{Found: true}
	if oids, _, ok := usages(c, windows.CERT_FIND_PROP_ONLY_ENHKEY_USAGE_FLAG); ok {
		r.PropOIDs = append([]string{}, oids...)
	}
	r.AllOIDs, r.Restricted, _ = usages(c, 0)
	var n uint32
	if x, _, _ := procGetContextProperty.Call(uintptr(unsafe.Pointer(c)), 9, 0, uintptr(unsafe.Pointer(&n))); x != 0 && n > 0 {
		buf := make([]byte, n)
		procGetContextProperty.Call(uintptr(unsafe.Pointer(c)), 9, uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)))
		r.Prop = fmt.Sprintf("%x", buf[:n])
	}
	return r
}

// storeEKU reports the EKU crypt32 finds for der in LocalMachine\name.
func storeEKU(name string, der []byte) error {
	h, err := open(name, false)
	if err != nil {
		return err
	}
	defer windows.CertCloseStore(h, 0)
	sum := sha1.Sum(der)
	blob := windows.CryptDataBlob{Size: 20, Data: &sum[0]}
	c, _ := windows.CertFindCertificateInStore(h, windows.X509_ASN_ENCODING, 0, windows.CERT_FIND_SHA1_HASH, unsafe.Pointer(&blob), nil)
	if c == nil {
		return out(ekuReport{})
	}
	defer windows.CertFreeCertificateContext(c)
	return out(report(c))
}

// blobEKU loads a serialized certificate element (a registry Blob, as
// Group Policy stores it) into a memory store with crypt32 and reports
// its EKU.
func blobEKU(b []byte) error {
	h, err := windows.CertOpenStore(windows.CERT_STORE_PROV_MEMORY, 0, 0, 0, 0)
	if err != nil {
		return err
	}
	defer windows.CertCloseStore(h, 0)
	var c *windows.CertContext
	var typ uint32
	r, _, err := procAddSerializedElement.Call(uintptr(h), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		windows.CERT_STORE_ADD_ALWAYS, 0, 2 /* CERT_STORE_CERTIFICATE_CONTEXT_FLAG */, uintptr(unsafe.Pointer(&typ)), uintptr(unsafe.Pointer(&c)))
	if r == 0 {
		return fmt.Errorf("CertAddSerializedElementToStore: %w", err)
	}
	defer windows.CertFreeCertificateContext(c)
	return out(report(c))
}

// chainReport is what CertGetCertificateChain says of a leaf.
type chainReport struct {
	ErrorStatus uint32 `json:"error_status"` // CERT_TRUST_* error bits of the whole chain
	Elements    int    `json:"elements"`
}

// chainCheck builds the chain of the leaf der with the machine's stores,
// asking for usage (an EKU OID such as 1.3.6.1.5.5.7.3.1), and reports
// the trust error bits.
func chainCheck(der []byte, usage string) error {
	leaf, err := windows.CertCreateCertificateContext(windows.X509_ASN_ENCODING, &der[0], uint32(len(der)))
	if err != nil {
		return err
	}
	defer windows.CertFreeCertificateContext(leaf)
	oid, err := windows.BytePtrFromString(usage)
	if err != nil {
		return err
	}
	para := windows.CertChainPara{Size: uint32(unsafe.Sizeof(windows.CertChainPara{}))}
	para.RequestedUsage.Type = windows.USAGE_MATCH_TYPE_AND
	para.RequestedUsage.Usage.Length = 1
	para.RequestedUsage.Usage.UsageIdentifiers = &oid
	var chain *windows.CertChainContext
	const hcceLocalMachine = windows.Handle(1)
	if err := windows.CertGetCertificateChain(hcceLocalMachine, leaf, nil, 0, &para, 0, 0, &chain); err != nil {
		return fmt.Errorf("CertGetCertificateChain: %w", err)
	}
	defer windows.CertFreeCertificateChain(chain)
	n := 0
	if chain.ChainCount > 0 {
		first := unsafe.Slice(chain.Chains, chain.ChainCount)[0]
		n = int(first.NumElements)
	}
	return out(chainReport{ErrorStatus: chain.TrustStatus.ErrorStatus, Elements: n})
}
