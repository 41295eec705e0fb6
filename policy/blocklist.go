package policy

import (
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
)

// BlockedRoot is a known-bad root certificate or key. A certificate matches
// when its SHA-256 (of the DER) or its SPKI hash (SHA-256 of the
// SubjectPublicKeyInfo) is the one recorded: matching on the key also
// catches a re-issued certificate that reuses the compromised key.
type BlockedRoot struct {
	Name   string `json:"name"`             // subject CN, as an administrator knows it
	SHA256 string `json:"sha256,omitempty"` // lowercase hex SHA-256 of the certificate DER
	SPKI   string `json:"spki,omitempty"`   // lowercase hex SHA-256 of the SubjectPublicKeyInfo
	Reason string `json:"reason"`           // why it is blocked, one line
	Source string `json:"source,omitempty"` // where the facts come from
}

// Chromium's certificate blocklist: net/data/ssl/blocklist/README.md names
// each certificate file by the SHA-256 of its DER; net/cert/
// cert_verify_proc_blocklist.inc (kSPKIBlockList, and kKnownInterceptionList
// for the Kazakhstan roots) holds the SHA-256 of its SPKI. Each pair below
// was re-computed from the PEM in that directory with
//
//	openssl x509 -outform DER | sha256sum
//	openssl x509 -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum
//
// and matches both Chromium files.
const chromiumBlocklist = "Chromium net/data/ssl/blocklist (README.md, <sha256>.pem) and net/cert/cert_verify_proc_blocklist.inc"

// BuiltinBlockedRoots returns the built-in list of known-bad roots: roots
// whose private key is public or which were used to intercept TLS without
// the owner's consent. It returns a new slice on every call.
func BuiltinBlockedRoots() []BlockedRoot {
	return []BlockedRoot{
		{
			// README.md "Superfish": preinstalled on Lenovo computers, one
			// root for all machines, private key trivially extracted.
			// File b6fe9151….pem; its SPKI is the kSPKIBlockList entry
			// {0x4b, 0xb8, 0xf3, 0x5b, …}.
			Name:   "Superfish, Inc.",
			SHA256: "b6fe9151402bad1c06d7e66db67a26aa7356f2e6c644dbcf9f98968ff632e1b7",
			SPKI:   "4bb8f35ba1e126f8dde1b0c420625ed86dce61a7bddadbdea9aba578ff13145e",
			Reason: "Superfish adware root preinstalled on Lenovo laptops; its private key is public",
			Source: chromiumBlocklist + " (Superfish); https://www.eff.org/deeplinks/2015/02/how-remove-superfish-adware-your-lenovo-computer",
		},
		{
			// README.md "Dell": eDellRoot and DSDTestProvider private keys
			// were trivially extracted. File ec30c9c3….pem (CN=eDellRoot);
			// kSPKIBlockList entry {0xcd, 0xee, 0x9f, 0x33, …}.
			Name:   "eDellRoot",
			SHA256: "ec30c9c3065a06bb07dc5b1c6b497f370c1ca65c0f30c08e042ba6bcecc78f2c",
			SPKI:   "cdee9f3305572a677e1a6c82dc1e02a35b11cae6a684338c9f37fe1ac8daec23",
			Reason: "root installed by Dell Foundation Services; its private key is public",
			Source: chromiumBlocklist + " (Dell); http://www.dell.com/support/article/us/en/19/SLN300321",
		},
		{
			// README.md "Dell": file 0f912fd7….pem (CN=DSDTestProvider);
			// kSPKIBlockList entry {0x13, 0x0a, 0xd4, 0xe0, …}.
			Name:   "DSDTestProvider",
			SHA256: "0f912fd7be760be25afbc56bdc09cd9e5dcc9c6f6a55a778aefcb6aa30e31554",
			SPKI:   "130ad4e0633521290531b6651f5759b0bc7bc656709ff8f365c2143b0389b6f6",
			Reason: "root installed by Dell System Detect; its private key is public",
			Source: chromiumBlocklist + " (Dell); http://www.dell.com/support/article/us/en/19/SLN300321",
		},
		{
			// README.md "Qaznet Trust Network": file 00309c73….pem
			// (C=KZ, CN=Qaznet Trust Network); kSPKIBlockList entry
			// {0xb5, 0xba, 0x8d, 0xd7, …}.
			Name:   "Qaznet Trust Network",
			SHA256: "00309c736dd661da6f1eb24173aa849944c168a43a15bffd192eecfdb6f8dbd2",
			SPKI:   "b5ba8dd7f89564c2889d3d6453c84998c77824919b64ea0835aa62986591be50",
			Reason: "Kazakhstan government TLS interception root (2019)",
			Source: chromiumBlocklist + " (Qaznet Trust Network); https://security.googleblog.com/2019/08/protecting-chrome-users-in-kazakhstan.html",
		},
		{
			// README.md "Qaznet Trust Network": file 61c0fc2e….pem
			// (CN=Information Security Certification Authority CA, O=ISCA,
			// C=KZ); in kSPKIBlockList and kKnownInterceptionList as
			// {0x8e, 0x12, 0xd0, 0xcb, …}.
			Name:   "Information Security Certification Authority CA",
			SHA256: "61c0fc2e38b5b6f9071b42cee54a9013d858b6697c68b460948551b3249576a1",
			SPKI:   "8e12d0cb3b7df3ea2257579489fd8658c95603ea6cf4b73163a41eb7b7e93fee",
			Reason: "Kazakhstan government TLS interception root (2020)",
			Source: chromiumBlocklist + " (Qaznet Trust Network, kKnownInterceptionList); https://security.googleblog.com/2019/08/protecting-chrome-users-in-kazakhstan.html",
		},
		{
			// README.md "Qaznet Trust Network": file 1df696f0….pem
			// (CN=Information Security Certification Authority, O=ISCA,
			// C=KZ); in kSPKIBlockList and kKnownInterceptionList as
			// {0xb1, 0x3f, 0xa2, 0xe6, …}.
			Name:   "Information Security Certification Authority",
			SHA256: "1df696f021ab1c3ace9a376b07ed7256a40214cd3396d7934087614924e2d7ef",
			SPKI:   "b13fa2e6131a888a01f3d62056fb0efbe999eb6b6e14927613e02ba8b8fb046e",
			Reason: "Kazakhstan government TLS interception root (2020)",
			Source: chromiumBlocklist + " (Qaznet Trust Network, kKnownInterceptionList); https://security.googleblog.com/2019/08/protecting-chrome-users-in-kazakhstan.html",
		},
	}
}

// Blocklist answers whether a certificate is a known-bad root. Build one
// with NewBlocklist; the zero value blocks nothing. It is read-only after
// construction and safe for concurrent use.
type Blocklist struct {
	bySHA256 map[string]BlockedRoot
	bySPKI   map[string]BlockedRoot
	entries  []BlockedRoot
}

// NewBlocklist builds a Blocklist from entries, typically
// BuiltinBlockedRoots() plus the blocklist of a policy document. Hashes
// are accepted in any case, with or without colons. An entry without a
// name, without any hash, or with a hash that is not 64 hex digits is an
// error naming the entry.
func NewBlocklist(entries ...[]BlockedRoot) (*Blocklist, error) {
	b := &Blocklist{bySHA256: map[string]BlockedRoot{}, bySPKI: map[string]BlockedRoot{}}
	for _, list := range entries {
		for i, e := range list {
			if strings.TrimSpace(e.Name) == "" {
				return nil, fmt.Errorf("blocklist entry %d: no name", i+1)
			}
			if e.SHA256 == "" && e.SPKI == "" {
				return nil, fmt.Errorf("blocklist entry %q: give sha256 or spki (or both)", e.Name)
			}
			if e.SHA256 != "" {
				h, ok := stores.NormalizeSHA256(e.SHA256)
				if !ok {
					return nil, fmt.Errorf("blocklist entry %q: sha256 %q is not 64 hex digits", e.Name, e.SHA256)
				}
				e.SHA256 = h
			}
			if e.SPKI != "" {
				h, ok := stores.NormalizeSHA256(e.SPKI)
				if !ok {
					return nil, fmt.Errorf("blocklist entry %q: spki %q is not 64 hex digits", e.Name, e.SPKI)
				}
				e.SPKI = h
			}
			if e.SHA256 != "" {
				b.bySHA256[e.SHA256] = e
			}
			if e.SPKI != "" {
				b.bySPKI[e.SPKI] = e
			}
			b.entries = append(b.entries, e)
		}
	}
	return b, nil
}

// DefaultBlocklist returns the Blocklist of BuiltinBlockedRoots.
func DefaultBlocklist() *Blocklist {
	b, err := NewBlocklist(BuiltinBlockedRoots())
	if err != nil {
		// The built-in table is checked by TestBuiltinBlocklist.
		panic("policy: built-in blocklist: " + err.Error())
	}
	return b
}

// Entries returns every entry, normalized, in the order given.
func (b *Blocklist) Entries() []BlockedRoot {
	if b == nil {
		return nil
	}
	return append([]BlockedRoot(nil), b.entries...)
}

// Lookup reports whether c is blocked, by the SHA-256 of its DER or of its
// SubjectPublicKeyInfo.
func (b *Blocklist) Lookup(c *x509.Certificate) (BlockedRoot, bool) {
	if c == nil {
		return BlockedRoot{}, false
	}
	return b.LookupHashes(stores.SHA256(c), stores.SPKIHash(c))
}

// LookupHashes is Lookup for a certificate known only by its hashes
// (lowercase hex; either may be empty).
func (b *Blocklist) LookupHashes(sha256Hex, spkiHex string) (BlockedRoot, bool) {
	if b == nil {
		return BlockedRoot{}, false
	}
	if e, ok := b.bySHA256[sha256Hex]; ok && sha256Hex != "" {
		return e, true
	}
	if e, ok := b.bySPKI[spkiHex]; ok && spkiHex != "" {
		return e, true
	}
	return BlockedRoot{}, false
}
