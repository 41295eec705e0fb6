package policy

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"path"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/macaddr"
	"github.com/anchorwatch/anchorwatch/stores"
)

// MaxDocument bounds a policy document (the JSON, before signing). A
// policy with a handful of CAs is a few KiB.
const MaxDocument = 1 << 20

// Default intervals, used when the policy leaves them out.
const (
	DefaultHeartbeatInterval = 5 * time.Minute
	DefaultRescanInterval    = 15 * time.Minute
)

// Bounds on the intervals a policy may set.
const (
	MinHeartbeatInterval = 10 * time.Second
	MinRescanInterval    = 10 * time.Second
	MaxInterval          = 24 * time.Hour
)

// Anchor roles.
const (
	RoleRoot         = "root"
	RoleIntermediate = "intermediate"
)

// Document is a policy: what every managed host must trust, what it must
// no longer trust, and how the agent behaves. It travels as JSON inside a
// PKCS#7 SignedData (see Sign and Verify).
//
// Keys beginning with "//" are comments at any level and are ignored;
// any other unknown key is an error, so a typo never passes silently.
type Document struct {
	// Serial increases with every published policy; agents refuse a
	// policy whose serial is not greater than the one they hold.
	Serial int64 `json:"serial"`
	// NotBefore and NotAfter bound the time agents accept the policy in.
	// NotAfter is required by agents for every policy they take in (Sign
	// sets it when the document leaves it out), so an old policy replayed
	// to a fresh agent is refused once it has expired; an agent keeps
	// enforcing the policy it holds past NotAfter and reports it.
	NotBefore *time.Time `json:"not_before,omitempty"`
	NotAfter  *time.Time `json:"not_after,omitempty"`
	// Anchors are the CAs to install.
	Anchors []Anchor `json:"anchors"`
	// Remove lists certificates to take out of every store (a rotated CA).
	Remove []Removal `json:"remove,omitempty"`
	// Blocklist adds known-bad roots to the built-in blocklist.
	Blocklist []BlockEntry `json:"blocklist,omitempty"`
	// ReportUnknownRoots makes agents report roots that are neither
	// shipped by a vendor nor managed by us.
	ReportUnknownRoots bool `json:"report_unknown_roots"`
	// Exemptions name devices the collector does not flag (servers,
	// guest Wi-Fi, privileged roles).
	Exemptions []Exemption `json:"exemptions,omitempty"`
	// HeartbeatInterval is how often an agent with unchanged state checks
	// in; RescanInterval how often it re-reads every store as a safety
	// net beside change notifications.
	HeartbeatInterval Duration `json:"heartbeat_interval,omitempty"`
	RescanInterval    Duration `json:"rescan_interval,omitempty"`
	// JavaPasswords maps a Java keystore path to its password, for
	// keystores that use neither "changeit" nor the empty password.
	JavaPasswords map[string]string `json:"java_passwords,omitempty"`

	// Distrust lists CAs every agent actively distrusts (see
	// DistrustEntry): distrusted where the store can express it, removed
	// where it cannot, and healed when a copy comes back.
	Distrust []DistrustEntry `json:"distrust,omitempty"`
	// EnforceBlocklist makes agents distrust every blocklisted root
	// (built-in and Blocklist) the same way, instead of only reporting it.
	EnforceBlocklist bool `json:"enforce_blocklist,omitempty"`
	// NextSigners are the PEM certificates of the policy signer(s) that
	// take over (signers.go): an agent that accepts this policy accepts a
	// later one signed by them, and then pins them instead of the old.
	NextSigners []string `json:"next_signers,omitempty"`

	// DoNotDecrypt is the signed "do not decrypt" list: destinations and
	// clients the interception proxy passes through unopened, each with a
	// reason and an expiry (see Bypass; exported for the proxy by
	// `anchorwatch proxy bypass`).
	DoNotDecrypt []Bypass `json:"do_not_decrypt,omitempty"`
}

// Anchor is one CA the policy installs.
type Anchor struct {
	// PEM holds exactly one CA certificate.
	PEM string `json:"pem"`
	// Stores limits the store kinds it goes to; empty means every kind.
	Stores []stores.Kind `json:"stores,omitempty"`
	// Role is "root" (self-signed trust anchor) or "intermediate"; empty
	// means derived from the certificate.
	Role string `json:"role,omitempty"`
	// RemoveAfter, when set, ends the anchor's life: from that time on the
	// agent removes it instead of installing it (the old CA of a rotation).
	RemoveAfter *time.Time `json:"remove_after,omitempty"`

	// Cert is the parsed certificate, filled by Parse.
	Cert *x509.Certificate `json:"-"`
}

// Removal is a certificate to remove from every store.
type Removal struct {
	SHA256 string `json:"sha256"`
	// After, when set, delays the removal until that time (the end of a
	// rotation's overlap).
	After  *time.Time `json:"after,omitempty"`
	Reason string     `json:"reason,omitempty"`
}

// BlockEntry is a known-bad root, named by certificate or by key.
type BlockEntry struct {
	SHA256     string `json:"sha256,omitempty"`
	SPKISHA256 string `json:"spki_sha256,omitempty"`
	Reason     string `json:"reason"`
}

// Exemption names devices that are deliberately left unmanaged. A device
// matches when any one of its hostname, address, MAC or group is listed.
type Exemption struct {
	Hosts   []string   `json:"hosts,omitempty"`   // hostnames, case-insensitive; "*.guest.example" matches a suffix
	Subnets []string   `json:"subnets,omitempty"` // CIDR, IPv4 or IPv6
	MACs    []string   `json:"macs,omitempty"`    // any common notation; compared normalized
	Groups  []string   `json:"groups,omitempty"`  // inventory groups, as the collector knows them
	Reason  string     `json:"reason"`
	Expires *time.Time `json:"expires,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("5m").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string such as "90s" or "15m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`want a duration string such as "5m"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (use e.g. \"90s\", \"5m\", \"1h\")", s)
	}
	*d = Duration(v)
	return nil
}

// FieldError is a validation error that names the offending field, e.g.
// "anchors[1].pem: not a CA certificate".
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// ErrInvalid is wrapped by every error Parse returns.
var ErrInvalid = errors.New("invalid policy")

// Parse decodes and validates a policy document. Decoding is strict:
// unknown keys (other than "//" comments), trailing data, a document over
// MaxDocument and every semantic error are refused; each error names the
// field. The returned document has every Anchor.Cert filled in.
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxDocument {
		return nil, fmt.Errorf("%w: %d bytes is over the %d byte limit", ErrInvalid, len(data), MaxDocument)
	}
	clean, err := stripComments(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	dec := json.NewDecoder(bytes.NewReader(clean))
	dec.DisallowUnknownFields() // a second line of defence behind checkKeys
	var d Document
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, describeJSONError(err))
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

// stripComments removes every object key starting with "//" and checks
// that data is exactly one JSON value.
func stripComments(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, describeJSONError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON document")
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, errors.New("the policy must be a JSON object")
	}
	m := dropComments(v).(map[string]any)
	if err := checkKeys(m, reflect.TypeFor[Document](), ""); err != nil {
		return nil, err
	}
	if err := checkScalars(m); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

// checkScalars checks the time and duration fields before decoding, so
// their errors name the field (encoding/json does not for them).
func checkScalars(m map[string]any) error {
	var errs []error
	checkTime := func(field string, v any) {
		if v == nil {
			return
		}
		s, ok := v.(string)
		if _, err := time.Parse(time.RFC3339, s); !ok || err != nil {
			errs = append(errs, &FieldError{Field: field, Err: fmt.Errorf("%v is not an RFC 3339 time (e.g. \"2030-01-31T00:00:00Z\")", jsonText(v))})
		}
	}
	checkDuration := func(field string, v any) {
		if v == nil {
			return
		}
		s, ok := v.(string)
		if _, err := time.ParseDuration(s); !ok || err != nil {
			errs = append(errs, &FieldError{Field: field, Err: fmt.Errorf("%v is not a duration (use e.g. \"90s\", \"5m\", \"1h\")", jsonText(v))})
		}
	}
	each := func(key string, fn func(f string, obj map[string]any)) {
		list, _ := m[key].([]any)
		for i, item := range list {
			if obj, ok := item.(map[string]any); ok {
				fn(fmt.Sprintf("%s[%d]", key, i), obj)
			}
		}
	}
	checkTime("not_before", m["not_before"])
	checkTime("not_after", m["not_after"])
	each("anchors", func(f string, o map[string]any) { checkTime(f+".remove_after", o["remove_after"]) })
	each("remove", func(f string, o map[string]any) { checkTime(f+".after", o["after"]) })
	each("exemptions", func(f string, o map[string]any) { checkTime(f+".expires", o["expires"]) })
	each("do_not_decrypt", func(f string, o map[string]any) { checkTime(f+".expires", o["expires"]) })
	each("distrust", func(f string, o map[string]any) { checkTime(f+".after", o["after"]) })
	checkDuration("heartbeat_interval", m["heartbeat_interval"])
	checkDuration("rescan_interval", m["rescan_interval"])
	return errors.Join(errs...)
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 64 {
		b = append(b[:61], "..."...)
	}
	return string(b)
}

func dropComments(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, vv := range t {
			if strings.HasPrefix(k, "//") {
				delete(t, k)
				continue
			}
			t[k] = dropComments(vv)
		}
	case []any:
		for i := range t {
			t[i] = dropComments(t[i])
		}
	}
	return v
}

func describeJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return &FieldError{Field: te.Field, Err: fmt.Errorf("JSON %s cannot hold this field (want %s)", te.Value, te.Type)}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("JSON syntax error at byte %d: %v", se.Offset, err)
	}
	return err
}

// UnknownFieldError is a key the policy document does not define: a typo
// never passes silently. Parse returns it (wrapped in ErrInvalid) before
// decoding.
type UnknownFieldError struct {
	// Field is the key's path, e.g. "serail" or "anchors[0].rol".
	Field string
}

func (e *UnknownFieldError) Error() string {
	return fmt.Sprintf("unknown field %q (comments are keys starting with \"//\")", e.Field)
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// checkKeys returns an *UnknownFieldError for the first key of v (a JSON
// value decoded into any, comments dropped), in sorted order, that no
// field of t takes as encoding/json matches keys (json tag or field name,
// case-insensitively). A value of the wrong JSON type is left to the
// decoder, which names it.
func checkKeys(v any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		m, _ := v.(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			ft, ok := jsonField(t, k)
			if !ok {
				return &UnknownFieldError{Field: joinField(path, k)}
			}
			if err := checkKeys(m[k], ft, joinField(path, k)); err != nil {
				return err
			}
		}
	case reflect.Map:
		m, _ := v.(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if err := checkKeys(m[k], t.Elem(), joinField(path, k)); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		list, _ := v.([]any)
		for i, item := range list {
			if err := checkKeys(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonField returns the type of the field of struct t that encoding/json
// decodes key into: an exact name first, then one equal under case
// folding.
func jsonField(t reflect.Type, key string) (reflect.Type, bool) {
	var folded reflect.Type
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		switch {
		case name == key:
			return f.Type, true
		case folded == nil && strings.EqualFold(name, key):
			folded = f.Type
		}
	}
	return folded, folded != nil
}

func joinField(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Validate checks the document and fills every Anchor.Cert. The errors
// (joined) each name their field. Each section has its validator, in the
// order of the document.
func (d *Document) Validate() error {
	var errs []error
	errs = append(errs, d.validateHeader()...)
	anchorIdx, anchorErrs := d.validateAnchors()
	errs = append(errs, anchorErrs...)
	errs = append(errs, d.validateRemove(anchorIdx)...)
	errs = append(errs, d.validateBlocklist(anchorIdx)...)
	errs = append(errs, d.validateExemptions()...)
	errs = append(errs, d.validateSettings()...)
	// The do-not-decrypt list (bypass.go), the distrust section
	// (distrust.go) and the next signers (signers.go).
	errs = append(errs, d.validateBypasses()...)
	errs = append(errs, d.validateDistrust()...)
	errs = append(errs, d.validateNextSigners()...)
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
}

// fieldErrs collects the FieldErrors of one section's validation.
type fieldErrs []error

func (e *fieldErrs) add(field string, format string, args ...any) {
	*e = append(*e, &FieldError{Field: field, Err: fmt.Errorf(format, args...)})
}

// validateHeader checks the serial, the validity and that there are CAs.
func (d *Document) validateHeader() []error {
	var errs fieldErrs
	if d.Serial <= 0 {
		errs.add("serial", "must be a positive integer (got %d); increase it with every published policy", d.Serial)
	}
	if d.NotBefore != nil && d.NotAfter != nil && !d.NotBefore.Before(*d.NotAfter) {
		errs.add("not_after", "%s is not after not_before (%s)", d.NotAfter.UTC().Format(time.RFC3339), d.NotBefore.UTC().Format(time.RFC3339))
	}
	if len(d.Anchors) == 0 {
		errs.add("anchors", "at least one CA is required")
	}
	return errs
}

// validateAnchors parses every anchor's certificate, checks its store
// kinds and role (filling the role from the certificate when absent), and
// returns the anchors by SHA-256 for the sections that refer to them.
func (d *Document) validateAnchors() (map[string]int, []error) {
	var errs fieldErrs
	known := map[stores.Kind]bool{}
	var names []string
	for _, k := range stores.KnownKinds() {
		known[k] = true
		names = append(names, string(k))
	}
	anchorIdx := map[string]int{}
	for i := range d.Anchors {
		a := &d.Anchors[i]
		f := fmt.Sprintf("anchors[%d]", i)
		a.Cert = nil
		if strings.TrimSpace(a.PEM) == "" {
			errs.add(f+".pem", "missing: paste the CA certificate in PEM")
		} else if c, err := parseOneCA(a.PEM, "anchor"); err != nil {
			errs.add(f+".pem", "%v", err)
		} else {
			a.Cert = c
		}
		for j, k := range a.Stores {
			if !known[k] {
				errs.add(fmt.Sprintf("%s.stores[%d]", f, j), "unknown store kind %q (known: %s)", k, strings.Join(names, ", "))
			}
		}
		switch a.Role {
		case "", RoleRoot, RoleIntermediate:
		default:
			errs.add(f+".role", "%q: want %q or %q", a.Role, RoleRoot, RoleIntermediate)
		}
		if a.Cert == nil {
			continue
		}
		a.checkRole(f, &errs)
		fp := stores.SHA256(a.Cert)
		if j, dup := anchorIdx[fp]; dup {
			errs.add(f+".pem", "same certificate as anchors[%d]", j)
		}
		anchorIdx[fp] = i
	}
	return anchorIdx, errs
}

// checkRole checks the anchor's role against its certificate, or sets
// it from the certificate when the document gives none.
func (a *Anchor) checkRole(f string, errs *fieldErrs) {
	self := stores.IsSelfSigned(a.Cert)
	switch {
	case a.Role == RoleRoot && !self:
		errs.add(f+".role", "\"root\" but %q is not self-signed; use \"intermediate\"", a.Cert.Subject.CommonName)
	case a.Role == RoleIntermediate && self:
		errs.add(f+".role", "\"intermediate\" but %q is self-signed; use \"root\"", a.Cert.Subject.CommonName)
	case a.Role == "" && self:
		a.Role = RoleRoot
	case a.Role == "":
		a.Role = RoleIntermediate
	}
}

// validateRemove checks the CAs to remove: fingerprints, repeats, and a
// CA also installed only with a rotation time.
func (d *Document) validateRemove(anchorIdx map[string]int) []error {
	var errs fieldErrs
	removeIdx := map[string]int{}
	for i := range d.Remove {
		r := &d.Remove[i]
		f := fmt.Sprintf("remove[%d]", i)
		fp, ok := stores.NormalizeSHA256(r.SHA256)
		if !ok {
			errs.add(f+".sha256", "%q is not a SHA-256 fingerprint (64 hex digits)", r.SHA256)
			continue
		}
		r.SHA256 = fp
		if j, dup := removeIdx[fp]; dup {
			errs.add(f+".sha256", "listed twice (also remove[%d])", j)
		}
		removeIdx[fp] = i
		if j, ok := anchorIdx[fp]; ok && r.After == nil && d.Anchors[j].RemoveAfter == nil {
			errs.add(f+".sha256", "also installed by anchors[%d]; to rotate, give remove[%d].after or anchors[%d].remove_after", j, i, j)
		}
	}
	return errs
}

// validateBlocklist checks the blocked roots: a fingerprint or key hash
// each, never one of the policy's own CAs, and a reason.
func (d *Document) validateBlocklist(anchorIdx map[string]int) []error {
	var errs fieldErrs
	for i := range d.Blocklist {
		b := &d.Blocklist[i]
		f := fmt.Sprintf("blocklist[%d]", i)
		if b.SHA256 == "" && b.SPKISHA256 == "" {
			errs.add(f, "give sha256 or spki_sha256")
		}
		if b.SHA256 != "" {
			if fp, ok := stores.NormalizeSHA256(b.SHA256); ok {
				b.SHA256 = fp
				if j, ok := anchorIdx[fp]; ok {
					errs.add(f+".sha256", "blocks anchors[%d], which the policy installs", j)
				}
			} else {
				errs.add(f+".sha256", "%q is not a SHA-256 fingerprint (64 hex digits)", b.SHA256)
			}
		}
		if b.SPKISHA256 != "" {
			if fp, ok := stores.NormalizeSHA256(b.SPKISHA256); ok {
				b.SPKISHA256 = fp
				for j, a := range d.Anchors {
					if a.Cert != nil && stores.SPKIHash(a.Cert) == fp {
						errs.add(f+".spki_sha256", "blocks the key of anchors[%d], which the policy installs", j)
					}
				}
			} else {
				errs.add(f+".spki_sha256", "%q is not a SHA-256 fingerprint (64 hex digits)", b.SPKISHA256)
			}
		}
		if strings.TrimSpace(b.Reason) == "" {
			errs.add(f+".reason", "missing: say why the root is blocked")
		}
	}
	return errs
}

// validateExemptions checks the device exemptions: something named,
// hostnames, subnets and MACs well formed (MACs normalised), a reason.
func (d *Document) validateExemptions() []error {
	var errs fieldErrs
	for i := range d.Exemptions {
		e := &d.Exemptions[i]
		f := fmt.Sprintf("exemptions[%d]", i)
		if len(e.Hosts)+len(e.Subnets)+len(e.MACs)+len(e.Groups) == 0 {
			errs.add(f, "names no device: give hosts, subnets, macs or groups")
		}
		for j, h := range e.Hosts {
			if strings.TrimSpace(h) == "" || strings.ContainsAny(h, " \t/") {
				errs.add(fmt.Sprintf("%s.hosts[%d]", f, j), "%q is not a hostname", h)
			}
		}
		for j, s := range e.Subnets {
			if _, err := netip.ParsePrefix(s); err != nil {
				errs.add(fmt.Sprintf("%s.subnets[%d]", f, j), "%q is not a CIDR subnet (e.g. 10.20.0.0/16)", s)
			}
		}
		for j, m := range e.MACs {
			mac, ok := macaddr.Normalize(m)
			if !ok {
				errs.add(fmt.Sprintf("%s.macs[%d]", f, j), "%q is not a MAC address", m)
				continue
			}
			e.MACs[j] = mac
		}
		if strings.TrimSpace(e.Reason) == "" {
			errs.add(f+".reason", "missing: say why these devices are exempt")
		}
	}
	return errs
}

// validateSettings checks the agent intervals and the Java keystore
// password paths.
func (d *Document) validateSettings() []error {
	var errs fieldErrs
	if d.HeartbeatInterval != 0 && (time.Duration(d.HeartbeatInterval) < MinHeartbeatInterval || time.Duration(d.HeartbeatInterval) > MaxInterval) {
		errs.add("heartbeat_interval", "%s is outside %s..%s", time.Duration(d.HeartbeatInterval), MinHeartbeatInterval, MaxInterval)
	}
	if d.RescanInterval != 0 && (time.Duration(d.RescanInterval) < MinRescanInterval || time.Duration(d.RescanInterval) > MaxInterval) {
		errs.add("rescan_interval", "%s is outside %s..%s", time.Duration(d.RescanInterval), MinRescanInterval, MaxInterval)
	}
	keys := make([]string, 0, len(d.JavaPasswords))
	for p := range d.JavaPasswords {
		keys = append(keys, p)
	}
	sort.Strings(keys)
	for _, p := range keys {
		if !path.IsAbs(p) && !isWindowsAbs(p) {
			errs.add(fmt.Sprintf("java_passwords[%q]", p), "not an absolute keystore path")
		}
	}
	return errs
}

// parseOneCA parses text holding exactly one CA certificate in PEM (what
// is for the error message: "anchor", "entry").
func parseOneCA(text, what string) (*x509.Certificate, error) {
	certs, err := ParseCAs([]byte(text))
	switch {
	case !strings.Contains(text, "-----BEGIN"):
		return nil, errors.New("not PEM (want a -----BEGIN CERTIFICATE----- block)")
	case err != nil:
		return nil, err
	case len(certs) != 1 || strings.Count(text, "-----BEGIN") != 1:
		return nil, fmt.Errorf("holds %d certificates; give one CA per %s", strings.Count(text, "-----BEGIN"), what)
	}
	return certs[0], nil
}

func isWindowsAbs(p string) bool {
	return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/')
}

// Heartbeat returns the heartbeat interval, or the default.
func (d *Document) Heartbeat() time.Duration {
	if d.HeartbeatInterval == 0 {
		return DefaultHeartbeatInterval
	}
	return time.Duration(d.HeartbeatInterval)
}

// Rescan returns the rescan interval, or the default.
func (d *Document) Rescan() time.Duration {
	if d.RescanInterval == 0 {
		return DefaultRescanInterval
	}
	return time.Duration(d.RescanInterval)
}

// AppliesTo reports whether the anchor goes to stores of kind k.
func (a Anchor) AppliesTo(k stores.Kind) bool {
	if len(a.Stores) == 0 {
		return true
	}
	for _, s := range a.Stores {
		if s == k {
			return true
		}
	}
	return false
}

// Wanted returns the CAs a store of kind k must hold at time now: every
// anchor for that kind whose remove_after has not passed and whose
// certificate is neither due for removal nor distrusted.
func (d *Document) Wanted(k stores.Kind, now time.Time) []*x509.Certificate {
	removing := map[string]bool{}
	for _, fp := range d.Removals(now) {
		removing[fp] = true
	}
	var out []*x509.Certificate
	for _, a := range d.Anchors {
		if a.Cert == nil || !a.AppliesTo(k) || removing[stores.SHA256(a.Cert)] || d.distrusted(a.Cert, now) {
			continue
		}
		out = append(out, a.Cert)
	}
	return out
}

// Removals returns the SHA-256s to remove at time now: every remove entry
// whose time has come and every anchor past its remove_after.
func (d *Document) Removals(now time.Time) []string {
	var out []string
	seen := map[string]bool{}
	add := func(fp string) {
		if !seen[fp] {
			seen[fp] = true
			out = append(out, fp)
		}
	}
	for _, r := range d.Remove {
		if r.After == nil || !now.Before(*r.After) {
			add(r.SHA256)
		}
	}
	for _, a := range d.Anchors {
		if a.Cert != nil && a.RemoveAfter != nil && !now.Before(*a.RemoveAfter) {
			add(stores.SHA256(a.Cert))
		}
	}
	return out
}

// CAs returns every anchor's certificate, in policy order.
func (d *Document) CAs() []*x509.Certificate {
	var out []*x509.Certificate
	for _, a := range d.Anchors {
		if a.Cert != nil {
			out = append(out, a.Cert)
		}
	}
	return out
}

// ActiveCAs returns the anchors in force at time now: every anchor but
// those past their remove_after, listed in a removal whose time has come,
// or distrusted. Agents report these as the host's CAs.
func (d *Document) ActiveCAs(now time.Time) []*x509.Certificate {
	removing := map[string]bool{}
	for _, fp := range d.Removals(now) {
		removing[fp] = true
	}
	var out []*x509.Certificate
	for _, c := range d.CAs() {
		if !removing[stores.SHA256(c)] && !d.distrusted(c, now) {
			out = append(out, c)
		}
	}
	return out
}

// NextChange returns the first rotation time after now (a remove_after, a
// removal's after or a distrust's after), or the zero time when none is pending. An agent
// reconciles again at that moment.
func (d *Document) NextChange(now time.Time) time.Time {
	var next time.Time
	consider := func(t *time.Time) {
		if t != nil && t.After(now) && (next.IsZero() || t.Before(next)) {
			next = *t
		}
	}
	for _, r := range d.Remove {
		consider(r.After)
	}
	for _, a := range d.Anchors {
		consider(a.RemoveAfter)
	}
	for _, e := range d.Distrust {
		consider(e.After)
	}
	return next
}

// Device describes one device for exemption matching.
type Device struct {
	Hostname string
	IP       netip.Addr
	MAC      string
	Groups   []string
}

// Active reports whether the exemption is in force at now.
func (e Exemption) Active(now time.Time) bool {
	return e.Expires == nil || now.Before(*e.Expires)
}

// Matches reports whether the exemption covers the device (expiry is not
// considered; see Active).
func (e Exemption) Matches(dev Device) bool {
	host := strings.ToLower(strings.TrimSuffix(dev.Hostname, "."))
	for _, h := range e.Hosts {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if host == "" {
			break
		}
		if host == h || (strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:])) {
			return true
		}
	}
	if dev.IP.IsValid() {
		for _, s := range e.Subnets {
			if p, err := netip.ParsePrefix(s); err == nil && p.Contains(dev.IP.Unmap()) {
				return true
			}
		}
	}
	if mac, ok := macaddr.Normalize(dev.MAC); ok {
		for _, m := range e.MACs {
			if em, ok := macaddr.Normalize(m); ok && em == mac {
				return true
			}
		}
	}
	for _, g := range e.Groups {
		for _, dg := range dev.Groups {
			if strings.EqualFold(g, dg) {
				return true
			}
		}
	}
	return false
}

// Exempt returns the first exemption in force at now that covers dev.
func (d *Document) Exempt(dev Device, now time.Time) (Exemption, bool) {
	for _, e := range d.Exemptions {
		if e.Active(now) && e.Matches(dev) {
			return e, true
		}
	}
	return Exemption{}, false
}

// BlockedRoots returns the policy's blocklist additions in the form
// NewBlocklist takes, to be merged with BuiltinBlockedRoots.
func (d *Document) BlockedRoots() []BlockedRoot {
	out := make([]BlockedRoot, 0, len(d.Blocklist))
	for i, b := range d.Blocklist {
		out = append(out, BlockedRoot{
			Name:   fmt.Sprintf("policy %d blocklist[%d]", d.Serial, i),
			SHA256: b.SHA256,
			SPKI:   b.SPKISHA256,
			Reason: b.Reason,
			Source: fmt.Sprintf("policy serial %d", d.Serial),
		})
	}
	return out
}
