package windows

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"sort"
	"strings"
	"unicode/utf16"

	"github.com/anchorwatch/anchorwatch/stores"
)

// Source names the physical store a certificate was read from.
type Source string

// Physical stores of a LocalMachine system store that Anchorwatch tells
// apart. Only SourceMachine is ever written.
const (
	SourceMachine    Source = "machine"    // the system store as crypt32 opens it (registry .Default and the rest)
	SourceGPO        Source = "gpo"        // HKLM\SOFTWARE\Policies\Microsoft\SystemCertificates
	SourceEnterprise Source = "enterprise" // HKLM\SOFTWARE\Microsoft\EnterpriseCertificates (Active Directory)
)

// Entry is one certificate as read from one physical store, with the
// properties kept beside it.
type Entry struct {
	DER    []byte
	Source Source
	// Props are the crypt32 properties that matter here (PropEKU,
	// PropFriendlyName); a property that is absent is not in the map.
	Props map[uint32][]byte
}

var (
	oidServerAuth = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}
	oidAnyEKU     = asn1.ObjectIdentifier{2, 5, 29, 37, 0}
)

// ekuPurposes maps extended key usage OIDs to purposes.
var ekuPurposes = []struct {
	oid asn1.ObjectIdentifier
	p   stores.Purpose
}{
	{oidServerAuth, stores.PurposeServerAuth},
	{asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 2}, stores.PurposeClientAuth},
	{asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 3}, stores.PurposeCodeSigning},
	{asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 4}, stores.PurposeEmailProtection},
	{asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}, stores.PurposeTimeStamping},
	{oidAnyEKU, stores.PurposeAny},
}

// ServerAuthEKU is the CERT_ENHKEY_USAGE_PROP_ID value Anchorwatch sets
// on every CA it installs: trusted for TLS server authentication only.
func ServerAuthEKU() []byte { return EncodeEKU(oidServerAuth) }

// purposes returns what Windows trusts c for as a CA from one store
// entry: the EKU property when set (certlm.msc's "Enable only the
// following purposes"), else the certificate's own EKU extension, else
// every purpose. An OID without a purpose name counts as one beyond TLS
// (stores.PurposeAny): Windows would trust it for that.
func purposes(c *x509.Certificate, props map[uint32][]byte) []stores.Purpose {
	var oids []asn1.ObjectIdentifier
	if p, ok := props[PropEKU]; ok {
		if _, err := asn1.Unmarshal(p, &oids); err != nil {
			return nil
		}
	} else if len(c.ExtKeyUsage) > 0 || len(c.UnknownExtKeyUsage) > 0 {
		oids = ekuOIDs(c)
	} else {
		return []stores.Purpose{stores.PurposeAny}
	}
	out := []stores.Purpose{}
	for _, o := range oids {
		named := false
		for _, e := range ekuPurposes {
			if o.Equal(e.oid) {
				out = append(out, e.p)
				named = true
			}
		}
		if !named {
			out = append(out, stores.PurposeAny)
		}
	}
	return stores.SortPurposes(out)
}

// ekuOIDs returns the OIDs of c's extended key usage extension.
func ekuOIDs(c *x509.Certificate) []asn1.ObjectIdentifier {
	out := append([]asn1.ObjectIdentifier(nil), c.UnknownExtKeyUsage...)
	for _, u := range c.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageAny:
			out = append(out, oidAnyEKU)
		case x509.ExtKeyUsageServerAuth:
			out = append(out, oidServerAuth)
		case x509.ExtKeyUsageClientAuth:
			out = append(out, ekuPurposes[1].oid)
		case x509.ExtKeyUsageCodeSigning:
			out = append(out, ekuPurposes[2].oid)
		case x509.ExtKeyUsageEmailProtection:
			out = append(out, ekuPurposes[3].oid)
		case x509.ExtKeyUsageTimeStamping:
			out = append(out, ekuPurposes[4].oid)
		default:
			out = append(out, asn1.ObjectIdentifier{0}) // a usage without a name here: beyond TLS
		}
	}
	return out
}

// tlsOnly reports whether ps trusts for TLS server auth and nothing else.
func tlsOnly(ps []stores.Purpose) bool {
	return len(ps) == 1 && ps[0] == stores.PurposeServerAuth
}

// ekuAllowsServerAuth reads a CERT_ENHKEY_USAGE_PROP_ID value (DER
// SEQUENCE OF OBJECT IDENTIFIER). An empty sequence disables the
// certificate for every purpose, which is what certlm.msc's "Disable all
// purposes" writes.
func ekuAllowsServerAuth(prop []byte) (bool, error) {
	var oids []asn1.ObjectIdentifier
	rest, err := asn1.Unmarshal(prop, &oids)
	if err != nil {
		return false, fmt.Errorf("enhanced key usage property: %w", err)
	}
	if len(rest) > 0 {
		return false, fmt.Errorf("enhanced key usage property: %d trailing bytes", len(rest))
	}
	for _, o := range oids {
		if o.Equal(oidServerAuth) || o.Equal(oidAnyEKU) {
			return true, nil
		}
	}
	return false, nil
}

// EncodeEKU builds a CERT_ENHKEY_USAGE_PROP_ID value allowing oids.
func EncodeEKU(oids ...asn1.ObjectIdentifier) []byte {
	if oids == nil {
		oids = []asn1.ObjectIdentifier{}
	}
	b, _ := asn1.Marshal(oids)
	return b
}

// trusted says whether Windows trusts c for TLS server authentication
// from a store entry: not in Disallowed, no EKU property that leaves out
// server auth, no EKU extension in the certificate that leaves it out.
func trusted(c *x509.Certificate, props map[uint32][]byte, disallowed bool) bool {
	if disallowed {
		return false
	}
	if p, ok := props[PropEKU]; ok {
		if allow, err := ekuAllowsServerAuth(p); err != nil || !allow {
			return false
		}
	}
	if len(c.ExtKeyUsage) > 0 || len(c.UnknownExtKeyUsage) > 0 {
		for _, u := range c.ExtKeyUsage {
			if u == x509.ExtKeyUsageServerAuth || u == x509.ExtKeyUsageAny {
				return true
			}
		}
		return false
	}
	return true
}

// friendlyName decodes CERT_FRIENDLY_NAME_PROP_ID (UTF-16LE, NUL-ended).
func friendlyName(p []byte) string {
	u := make([]uint16, 0, len(p)/2)
	for i := 0; i+1 < len(p); i += 2 {
		v := uint16(p[i]) | uint16(p[i+1])<<8
		if v == 0 {
			break
		}
		u = append(u, v)
	}
	return string(utf16.Decode(u))
}

// Anchors merges what was read from the physical stores of one system
// store into the store's anchors, one per SHA-256. A certificate present
// in the Group Policy or Enterprise store is reported as managed by it
// (Group Policy wins); it is trusted when any copy is. disallowed holds
// the SHA-256s in LocalMachine\Disallowed. Entries whose DER does not
// parse are returned as errors beside the anchors, never dropped silently.
func Anchors(entries []Entry, disallowed map[string]bool) ([]stores.Anchor, []error) {
	byFP := map[string]*stores.Anchor{}
	var errs []error
	for _, e := range entries {
		c, err := x509.ParseCertificate(e.DER)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s store: certificate that does not parse: %w", e.Source, err))
			continue
		}
		fp := stores.SHA256(c)
		a, ok := byFP[fp]
		if !ok {
			label := c.Subject.CommonName
			if fn := friendlyName(e.Props[PropFriendlyName]); fn != "" {
				label = fn
			}
			na := stores.NewAnchor(c, label, false)
			a = &na
			byFP[fp] = a
		}
		if trusted(c, e.Props, disallowed[fp]) {
			a.TrustedServerAuth = true
			a.Purposes = stores.SortPurposes(append(a.Purposes, purposes(c, e.Props)...))
		}
		switch {
		case e.Source == SourceGPO:
			a.ManagedBy = string(SourceGPO)
		case e.Source == SourceEnterprise && a.ManagedBy == "":
			a.ManagedBy = string(SourceEnterprise)
		}
	}
	out := make([]stores.Anchor, 0, len(byFP))
	for _, a := range byFP {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SHA256 < out[j].SHA256 })
	return out, errs
}

// Plan is what Install or Remove will do to the machine physical store.
type Plan struct {
	Changes []stores.Change
	// Add are certificates to add (replacing an existing copy, which drops
	// a restricting EKU property).
	Add []*x509.Certificate
	// Delete are SHA-256s to delete from the machine physical store.
	Delete []string
	// Warnings are things the caller should log: copies left alone
	// because Group Policy or Active Directory owns them.
	Warnings []string
}

// PlanInstall decides what Install does. current is the result of
// Anchors; inMachine holds the SHA-256s present in the writable machine
// physical store. A certificate present and trusted for TLS server auth
// only is unchanged, and so is one Group Policy delivers; one present but
// untrusted, or trusted for more than TLS, in the machine store is added
// again with the TLS-only EKU property ("trusted"); one in Disallowed is
// an error, since an administrator distrusted it explicitly.
func PlanInstall(current []stores.Anchor, disallowed map[string]bool, certs []*x509.Certificate) (Plan, error) {
	idx := bySHA256(current)
	var p Plan
	for _, c := range stores.Unique(certs) {
		fp := stores.SHA256(c)
		if disallowed[fp] {
			return Plan{}, fmt.Errorf("certificate %q (sha256 %s) is in LocalMachine\\Disallowed: an administrator distrusted it; remove it from Disallowed (certlm.msc, Untrusted Certificates) first", c.Subject.CommonName, fp)
		}
		a, ok := idx[fp]
		switch {
		case ok && a.TrustedServerAuth && (a.ManagedBy != "" || tlsOnly(a.Purposes)):
			p.Changes = append(p.Changes, stores.Change{SHA256: fp, Action: stores.ActionUnchanged})
			if a.ManagedBy != "" {
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s already delivered by %s; not adding a machine copy", fp, a.ManagedBy))
			}
		case ok && a.ManagedBy != "":
			return Plan{}, fmt.Errorf("certificate %q (sha256 %s) is delivered by %s with its trust restricted; change it in the %s, Anchorwatch does not override it", c.Subject.CommonName, fp, a.ManagedBy, a.ManagedBy)
		case ok:
			p.Changes = append(p.Changes, stores.Change{SHA256: fp, Action: stores.ActionTrusted})
			p.Add = append(p.Add, c)
		default:
			p.Changes = append(p.Changes, stores.Change{SHA256: fp, Action: stores.ActionAdded})
			p.Add = append(p.Add, c)
		}
	}
	return p, nil
}

// PlanRemove decides what Remove does. A certificate present only through
// Group Policy or Active Directory is left alone (unchanged, with a
// warning); its machine copy, if any, is deleted.
func PlanRemove(current []stores.Anchor, inMachine map[string]bool, sha256s []string) (Plan, error) {
	idx := bySHA256(current)
	var p Plan
	fps, err := stores.Fingerprints(sha256s)
	if err != nil {
		return Plan{}, fmt.Errorf("remove: %w", err)
	}
	for _, fp := range fps {
		a, present := idx[fp]
		if a.ManagedBy != "" {
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s is delivered by %s; remove it there, Anchorwatch does not fight %s", fp, a.ManagedBy, strings.ToUpper(a.ManagedBy)))
		}
		if present && inMachine[fp] {
			p.Changes = append(p.Changes, stores.Change{SHA256: fp, Action: stores.ActionRemoved})
			p.Delete = append(p.Delete, fp)
			continue
		}
		p.Changes = append(p.Changes, stores.Change{SHA256: fp, Action: stores.ActionUnchanged})
	}
	return p, nil
}

// StoreDisallowed is the LocalMachine system store Windows refuses every
// certificate of ("Untrusted Certificates" in certlm.msc): a CA there is
// not trusted whichever store, Group Policy included, holds it.
const StoreDisallowed = "Disallowed"

// DistrustPlan is what Distrust does.
type DistrustPlan struct {
	Changes []stores.Change
	// Delete are the machine copies of this store (ROOT or CA) to take
	// out; Disallow the certificates to add to LocalMachine\Disallowed.
	Delete   []string
	Disallow []*x509.Certificate
	// Warnings name copies another manager (Group Policy) keeps: the
	// Disallowed entry overrides them.
	Warnings []string
}

// PlanDistrust decides what Distrust does for one system store. current
// is the result of Anchors, inMachine the SHA-256s of this store's
// machine physical store, disallowed those in Disallowed. A certificate
// in Disallowed with no machine copy left here is unchanged.
func PlanDistrust(current []stores.Anchor, inMachine, disallowed map[string]bool, certs []*x509.Certificate) DistrustPlan {
	idx := bySHA256(current)
	var p DistrustPlan
	for _, c := range stores.Unique(certs) {
		fp := stores.SHA256(c)
		if a, ok := idx[fp]; ok && a.ManagedBy != "" {
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s is delivered by %s; LocalMachine\\Disallowed overrides it, remove it in the %s too", fp, a.ManagedBy, strings.ToUpper(a.ManagedBy)))
		}
		action := stores.ActionUnchanged
		if inMachine[fp] {
			p.Delete = append(p.Delete, fp)
			action = stores.ActionDistrusted
		}
		if !disallowed[fp] {
			p.Disallow = append(p.Disallow, c)
			action = stores.ActionDistrusted
		}
		p.Changes = append(p.Changes, stores.Change{SHA256: fp, Action: action})
	}
	return p
}

// bySHA256 indexes anchors by their SHA-256, for the plans.
func bySHA256(anchors []stores.Anchor) map[string]stores.Anchor {
	idx := make(map[string]stores.Anchor, len(anchors))
	for _, a := range anchors {
		idx[a.SHA256] = a
	}
	return idx
}
