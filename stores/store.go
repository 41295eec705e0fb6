package stores

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
)

// Kind names a family of trust stores. Selection flags (--stores) use it.
type Kind string

// The store kinds known to Anchorwatch.
const (
	KindSystem  Kind = "system"  // Linux system store (anchors dir + extracted bundle)
	KindNSS     Kind = "nss"     // NSS databases: Firefox, Thunderbird, Chromium, /etc/pki/nssdb
	KindJava    Kind = "java"    // Java keystores (JKS, PKCS12)
	KindWindows Kind = "windows" // Windows LocalMachine ROOT/CA through crypt32
	KindMacOS   Kind = "macos"   // macOS System keychain + admin trust settings
	KindFirefox Kind = "firefox" // Firefox enterprise policy (policies.json / registry)

	// Application stores (docs/app-stores.md).
	KindPython    Kind = "python"    // certifi bundles, pip's vendored copy, pip cert, conda ssl_verify, REQUESTS_CA_BUNDLE/SSL_CERT_FILE
	KindNode      Kind = "node"      // NODE_EXTRA_CA_CERTS set system-wide, npm cafile
	KindGit       Kind = "git"       // http.sslCAInfo, GIT_SSL_CAINFO, Git for Windows' bundle
	KindBundle    Kind = "bundle"    // PEM bundles programs ship outside the system store (curl, wget, …), found by content
	KindContainer Kind = "container" // Docker, containerd and podman certs.d registry trust
	KindCloud     Kind = "cloud"     // AWS CLI (AWS_CA_BUNDLE, ca_bundle, its own bundle), gcloud custom_ca_certs_file
	KindWSL       Kind = "wsl"       // the system store of each WSL distribution, read through its rootfs
)

// KnownKinds returns every kind this version of Anchorwatch knows, whether
// or not its adapter is built for the running platform: policies and agent
// configurations name kinds for a whole fleet.
func KnownKinds() []Kind {
	return []Kind{KindSystem, KindNSS, KindJava, KindWindows, KindMacOS, KindFirefox,
		KindPython, KindNode, KindGit, KindBundle, KindContainer, KindCloud, KindWSL}
}

// Info describes one store. ID is stable across runs and hosts:
// kind + ":" + location, with paths given as seen from inside the root
// (so a store on a mounted image has the id it has on the running host).
type Info struct {
	ID       string `json:"id"`
	Kind     Kind   `json:"kind"`
	Path     string `json:"path"`            // location inside the root, or a logical location such as LocalMachine\ROOT
	Format   string `json:"format"`          // e.g. "debian", "rhel", "cert9.db", "cert8.db", "jks", "pkcs12", "crypt32"
	Owner    string `json:"owner,omitempty"` // user that owns the store; empty for system-wide stores
	App      string `json:"app,omitempty"`   // application that reads it, e.g. "firefox", "chromium", "jdk-17"
	Writable bool   `json:"writable"`
	// NeedsRoot is set when Writable is false only because this process
	// may not write the store: root (or Owner, for a user's store) may.
	NeedsRoot bool `json:"needs_root,omitempty"`
	// Note carries a reason the store cannot be handled (legacy format,
	// missing tool). A store with a Note is still listed, never skipped.
	Note string `json:"note,omitempty"`
	// CannotRestrict is set for stores that cannot restrict what a CA is
	// trusted for (Java keystores and Debian's PEM bundle trust every CA
	// for every purpose; Firefox's Certificates.Install policy always
	// imports with TLS, client and S/MIME trust). Check never calls such a
	// store overtrusted; it says so in the detail instead.
	CannotRestrict bool `json:"cannot_restrict,omitempty"`
}

// Anchor is one certificate a store holds.
type Anchor struct {
	Cert   *x509.Certificate `json:"-"`
	SHA256 string            `json:"sha256"`          // lowercase hex SHA-256 of the DER
	Label  string            `json:"label,omitempty"` // alias, nickname or file name
	// TrustedServerAuth is true when the store trusts the certificate as a
	// CA for TLS server authentication (what a browser or JSSE checks).
	TrustedServerAuth bool `json:"trusted"`
	// Vendor is true when the adapter knows the certificate was shipped by
	// the OS, JDK or NSS bundle rather than added locally.
	Vendor bool `json:"vendor,omitempty"`
	// ManagedBy names an owner that is not us and that we do not fight,
	// e.g. "gpo" for a root pushed by Group Policy.
	ManagedBy string `json:"managed_by,omitempty"`
	// Purposes are what the store trusts the certificate for as a CA, when
	// the adapter can tell: nil means not reported (TrustedServerAuth is
	// all that is known); [PurposeAny] means unrestricted, the answer of
	// every store that cannot restrict purposes (Java, a PEM bundle).
	Purposes []Purpose `json:"purposes,omitempty"`
}

// Purpose is an extended key usage a store trusts a CA for.
type Purpose string

// The purposes stores can express. Anchorwatch installs its CA for
// PurposeServerAuth only; anything more is StatusOvertrusted.
const (
	PurposeServerAuth      Purpose = "serverAuth"
	PurposeClientAuth      Purpose = "clientAuth"
	PurposeCodeSigning     Purpose = "codeSigning"
	PurposeEmailProtection Purpose = "emailProtection" // S/MIME
	PurposeTimeStamping    Purpose = "timeStamping"
	PurposeAny             Purpose = "any" // every purpose: no restriction
)

// BeyondServerAuth returns the purposes of a that go beyond TLS server
// authentication (PurposeAny included); nil when a is trusted for TLS
// server auth only, or its purposes are not reported.
func (a Anchor) BeyondServerAuth() []Purpose {
	var out []Purpose
	for _, p := range a.Purposes {
		if p != PurposeServerAuth {
			out = append(out, p)
		}
	}
	return out
}

// Change reports what Install or Remove did (or, in a dry run, would do)
// for one certificate in one store.
type Change struct {
	SHA256 string `json:"sha256"`
	Action string `json:"action"` // "added", "trusted" (present, trust fixed), "removed", "unchanged"
}

// Changed reports whether any change in cs altered the store.
func Changed(cs []Change) bool {
	for _, c := range cs {
		if c.Action != ActionUnchanged {
			return true
		}
	}
	return false
}

// Change actions.
const (
	ActionAdded     = "added"
	ActionTrusted   = "trusted"
	ActionRemoved   = "removed"
	ActionUnchanged = "unchanged"
	// Distruster actions.
	ActionDistrusted   = "distrusted"   // the store now refuses the certificate
	ActionUndistrusted = "undistrusted" // our distrust record was taken out
)

// Store is the contract every adapter implements. It fits file stores
// (keystores, NSS databases, anchors directories) and API stores (crypt32,
// keychains) alike: nothing in it assumes a file.
//
// Implementations must never corrupt what they touch: write to a temporary
// file in the same directory, fsync, rename, keep mode and owner, take the
// store's lock where it has one, and leave the store byte-identical when
// they return an error.
type Store interface {
	Info() Info
	// List returns every certificate the store holds with its trust for
	// TLS server authentication.
	List(ctx context.Context) ([]Anchor, error)
	// Install adds each certificate with TLS server-auth trust (roots as
	// trust anchors, intermediates where the store distinguishes them).
	// It is idempotent: certificates already present and trusted are
	// reported as unchanged and the store is not rewritten.
	Install(ctx context.Context, certs []*x509.Certificate, opt Options) ([]Change, error)
	// Remove takes out every certificate whose SHA-256 (lowercase hex) is
	// listed. Certificates not present are reported as unchanged.
	Remove(ctx context.Context, sha256s []string, opt Options) ([]Change, error)
	// Watch says how to notice that the store changed.
	Watch() WatchSpec
}

// Options modify Install and Remove.
type Options struct {
	// DryRun computes the changes without writing anything.
	DryRun bool
	// Watched says the caller watches the store and heals later changes
	// itself (the agent), so an adapter may skip lingering after a write
	// to catch a racing writer (the Java adapter's settle watch).
	Watched bool
	// Certs are the certificates of the fingerprints given to Remove,
	// when the caller has them. A store may need the certificate itself
	// to take out a record that outlived it (an NSS >= 3.114 trust object
	// left without its certificate by an older certutil).
	Certs []*x509.Certificate
}

// WatchSpec names what to watch for changes to a store. File stores give
// paths (files and the directories holding them, so a rename-replace is
// seen); API stores give a Notifier. Both may be set.
type WatchSpec struct {
	Paths    []string
	Notifier Notifier
}

// Notifier is implemented by stores that learn about changes from the
// platform (RegNotifyChangeKeyValue, CertControlStore, keychain events).
// Notify blocks until ctx is done, sending on changed (without blocking,
// dropping a signal when one is already pending) each time the store may
// have changed. It re-arms itself after every signal.
type Notifier interface {
	Notify(ctx context.Context, changed chan<- struct{}) error
}

// Env is what an adapter needs to find and operate on stores.
type Env struct {
	// Root is the directory the host's filesystem is looked up under;
	// "/" for the running host.
	Root string
	// JavaPasswords maps a keystore path (as seen inside the root) to its
	// password. Keystores not listed use "changeit", then the empty password.
	JavaPasswords map[string]string
	// Log receives debug and warning messages; never nil after Normalize.
	Log *slog.Logger
}

// Normalize fills defaults: Root "/" and a discarding logger.
func (e Env) Normalize() Env {
	if e.Root == "" {
		e.Root = "/"
	}
	if e.Log == nil {
		e.Log = slog.New(slog.DiscardHandler)
	}
	return e
}

// ErrNotSupported is returned (wrapped) by operations a store cannot do,
// e.g. writing a legacy cert8.db. Callers report it as an error status.
var ErrNotSupported = errors.New("not supported")

// ErrUnsafe is returned (wrapped) by Install and Remove for a store that
// is not written because writing it as root would let a local user
// redirect the write, replace what is read, or run code with root's
// privileges (a database whose files are links, a directory its owner
// locked, a path more than one user can change). Such a store is
// reported as StatusError with the reason and left untouched until it is
// fixed.
var ErrUnsafe = errors.New("not written, for safety")

// ErrNeedsMDM is returned (wrapped) by Install and Remove when the platform
// allows the change only through device management (macOS 11+ admin trust
// settings). Callers report the store as StatusNeedsMDM.
var ErrNeedsMDM = errors.New("needs MDM: the platform allows this change only through a configuration profile")

// Selector is implemented by stores that hold only some certificates:
// Windows keeps roots in ROOT and intermediates in CA. Stores without it
// hold every CA they are given.
type Selector interface {
	Accepts(c *x509.Certificate) bool
}

// Distruster is implemented by stores that can actively distrust a CA:
// Windows (the Disallowed store), NSS (explicit distrust trust flags),
// the RHEL family (p11-kit blocklist), Debian ("!" in
// ca-certificates.conf), macOS (deny trust settings). The agent
// distrusts the policy's distrust targets in such a store and heals a
// copy added back; a store without it has the CA removed instead
// (Java, application bundles) and the difference reported.
type Distruster interface {
	// Distrust makes the store, as its consuming program reads it, refuse
	// each certificate for every purpose — also when a copy is added back
	// later or a server sends the certificate in its chain. It takes away
	// every trust the store gives the certificate (removing or disabling
	// the trusted entry where that is how the store grants trust, except
	// an entry another manager owns that the distrust record overrides)
	// and writes the store's distrust record. It is idempotent: a
	// certificate already distrusted and trusted nowhere in the store is
	// "unchanged"; otherwise the change is ActionDistrusted.
	Distrust(ctx context.Context, certs []*x509.Certificate, opt Options) ([]Change, error)
	// Undistrust takes out the distrust record of each listed SHA-256
	// (lowercase hex); it adds no trust. Certificates the store does not
	// distrust are "unchanged"; the agent only asks for records it wrote.
	Undistrust(ctx context.Context, sha256s []string, opt Options) ([]Change, error)
	// Distrusted lists what the store actively distrusts, as Anchors with
	// TrustedServerAuth false (Cert set when the record holds it).
	Distrusted(ctx context.Context) ([]Anchor, error)
}

// Select returns the certificates of certs that s holds.
func Select(s Store, certs []*x509.Certificate) []*x509.Certificate {
	sel, ok := s.(Selector)
	if !ok {
		return certs
	}
	var out []*x509.Certificate
	for _, c := range certs {
		if sel.Accepts(c) {
			out = append(out, c)
		}
	}
	return out
}
