package inventory

import (
	"crypto/x509"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/stores"
)

// Class is the classification of a trust anchor.
type Class string

// The classes, from most to least alarming.
const (
	Blocked Class = "blocked"
	Unknown Class = "unknown"
	Managed Class = "managed"
	Vendor  Class = "vendor"
)

// Classes lists every class, most alarming first (the order Classify
// sorts by).
func Classes() []Class { return []Class{Blocked, Unknown, Managed, Vendor} }

// StoreAnchors is the content of one store: its Info and what List
// returned.
type StoreAnchors struct {
	Store   stores.Info
	Anchors []stores.Anchor
}

// Options say what counts as managed and what is blocked.
type Options struct {
	// Managed holds lowercase hex SHA-256s of the certificates that are
	// ours (the --ca set, the policy's anchors).
	Managed map[string]bool
	// Blocklist finds known-bad roots; nil blocks nothing. Use
	// policy.DefaultBlocklist() for the built-in list.
	Blocklist *policy.Blocklist
}

// Location is one store holding a certificate.
type Location struct {
	ID      string `json:"id"`
	Label   string `json:"label,omitempty"`
	Trusted bool   `json:"trusted"` // trusted for TLS server auth in this store
	Vendor  bool   `json:"vendor,omitempty"`
	// Purposes are what this store trusts the certificate for, where the
	// adapter reports them ("any": every purpose).
	Purposes []stores.Purpose `json:"purposes,omitempty"`
}

// Entry is one distinct certificate and every store that holds it.
type Entry struct {
	SHA256   string     `json:"sha256"`
	SPKI     string     `json:"spki,omitempty"`
	Subject  string     `json:"subject"`
	Issuer   string     `json:"issuer"`
	NotAfter time.Time  `json:"not_after"`
	Class    Class      `json:"class"`
	Reason   string     `json:"reason"`
	Stores   []Location `json:"stores"`
	// Cert is the certificate, when an adapter returned it.
	Cert *x509.Certificate `json:"-"`
}

// Classify merges the anchors of every store by SHA-256 and classifies
// each certificate. Entries are sorted by class (blocked first), then
// subject, then SHA-256; each entry's stores are sorted by id.
func Classify(in []StoreAnchors, opt Options) []Entry {
	byHash := map[string]*Entry{}
	labels := map[string][]string{}
	vendor := map[string]bool{}
	managedBy := map[string]string{}
	for _, s := range in {
		for _, a := range s.Anchors {
			fp := a.SHA256
			if fp == "" && a.Cert != nil {
				fp = stores.SHA256(a.Cert)
			}
			if fp == "" {
				continue
			}
			e := byHash[fp]
			if e == nil {
				e = &Entry{SHA256: fp}
				byHash[fp] = e
			}
			if e.Cert == nil && a.Cert != nil {
				e.Cert = a.Cert
				e.SPKI = stores.SPKIHash(a.Cert)
				e.Subject = a.Cert.Subject.String()
				e.Issuer = a.Cert.Issuer.String()
				e.NotAfter = a.Cert.NotAfter.UTC()
			}
			e.Stores = append(e.Stores, Location{ID: s.Store.ID, Label: a.Label, Trusted: a.TrustedServerAuth, Vendor: a.Vendor, Purposes: a.Purposes})
			if a.Label != "" {
				labels[fp] = append(labels[fp], a.Label)
			}
			if a.Vendor {
				vendor[fp] = true
			}
			if a.ManagedBy != "" {
				managedBy[fp] = a.ManagedBy
			}
		}
	}
	out := make([]Entry, 0, len(byHash))
	for fp, e := range byHash {
		e.Class, e.Reason = classify(e, opt, labels[fp], vendor[fp], managedBy[fp])
		sort.SliceStable(e.Stores, func(i, j int) bool { return e.Stores[i].ID < e.Stores[j].ID })
		out = append(out, *e)
	}
	rank := map[Class]int{}
	for i, c := range Classes() {
		rank[c] = i
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if rank[a.Class] != rank[b.Class] {
			return rank[a.Class] < rank[b.Class]
		}
		if a.Subject != b.Subject {
			return a.Subject < b.Subject
		}
		return a.SHA256 < b.SHA256
	})
	return out
}

func classify(e *Entry, opt Options, labels []string, vendor bool, managedBy string) (Class, string) {
	if b, ok := opt.Blocklist.LookupHashes(e.SHA256, e.SPKI); ok {
		how := "certificate SHA-256"
		if b.SHA256 != e.SHA256 {
			how = "public key (SPKI)"
		}
		return Blocked, fmt.Sprintf("on the blocklist by %s: %s (%s)", how, b.Name, b.Reason)
	}
	if opt.Managed[e.SHA256] {
		return Managed, "one of the managed CAs"
	}
	for _, l := range labels {
		if strings.HasPrefix(l, stores.LabelPrefix) {
			return Managed, fmt.Sprintf("written by Anchorwatch (label %s)", l)
		}
	}
	if vendor {
		return Vendor, "shipped with the OS, JDK or NSS bundle"
	}
	if managedBy != "" {
		return Unknown, fmt.Sprintf("not from a vendor bundle and not ours; managed by %s", managedBy)
	}
	return Unknown, "not from a vendor bundle and not one of the managed CAs"
}

// Count returns how many entries fall in each class.
func Count(entries []Entry) map[Class]int {
	n := map[Class]int{}
	for _, c := range Classes() {
		n[c] = 0
	}
	for _, e := range entries {
		n[e.Class]++
	}
	return n
}

// Filter returns the entries whose class is in classes (all when empty).
func Filter(entries []Entry, classes ...Class) []Entry {
	if len(classes) == 0 {
		return entries
	}
	want := map[Class]bool{}
	for _, c := range classes {
		want[c] = true
	}
	var out []Entry
	for _, e := range entries {
		if want[e.Class] {
			out = append(out, e)
		}
	}
	return out
}

// ParseClasses parses a comma-separated list of class names ("unknown,blocked").
func ParseClasses(s string) ([]Class, error) {
	var out []Class
	for _, part := range strings.Split(s, ",") {
		c := Class(strings.ToLower(strings.TrimSpace(part)))
		if c == "" {
			continue
		}
		ok := false
		for _, k := range Classes() {
			ok = ok || k == c
		}
		if !ok {
			return nil, fmt.Errorf("unknown class %q (known: blocked, unknown, managed, vendor)", c)
		}
		out = append(out, c)
	}
	return out, nil
}
