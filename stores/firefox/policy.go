package firefox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// MaxPolicies bounds a policies.json we read; real ones are a few KiB.
const MaxPolicies = 4 << 20

// ErrBadPolicies is wrapped when a policies.json cannot be merged safely.
var ErrBadPolicies = errors.New("policies.json")

// Policies is a parsed policies.json that keeps every key it does not
// manage as raw JSON, so a merge never drops or rewrites an
// administrator's other policies.
type Policies struct {
	top      map[string]json.RawMessage
	policies map[string]json.RawMessage
	certs    map[string]json.RawMessage
	install  []string
	enterp   *bool
}

// ParsePolicies parses policies.json. Empty input is an empty document.
// Anything whose shape Firefox would not accept for the keys we manage
// (policies, Certificates, Install, ImportEnterpriseRoots) is an error:
// we never rewrite a file we do not understand.
func ParsePolicies(b []byte) (*Policies, error) {
	p := &Policies{top: map[string]json.RawMessage{}, policies: map[string]json.RawMessage{}, certs: map[string]json.RawMessage{}}
	if len(b) > MaxPolicies {
		return nil, fmt.Errorf("%w: %d bytes is over the %d byte limit", ErrBadPolicies, len(b), MaxPolicies)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return p, nil
	}
	if err := strictObject(b, &p.top); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPolicies, err)
	}
	if raw, ok := p.top["policies"]; ok {
		if err := strictObject(raw, &p.policies); err != nil {
			return nil, fmt.Errorf(`%w: "policies": %v`, ErrBadPolicies, err)
		}
	}
	if raw, ok := p.policies["Certificates"]; ok {
		if err := strictObject(raw, &p.certs); err != nil {
			return nil, fmt.Errorf(`%w: "policies.Certificates": %v`, ErrBadPolicies, err)
		}
	}
	if raw, ok := p.certs["Install"]; ok {
		if err := json.Unmarshal(raw, &p.install); err != nil || p.install == nil {
			return nil, fmt.Errorf(`%w: "policies.Certificates.Install" must be an array of paths`, ErrBadPolicies)
		}
	}
	if raw, ok := p.certs["ImportEnterpriseRoots"]; ok {
		var v bool
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf(`%w: "policies.Certificates.ImportEnterpriseRoots" must be true or false`, ErrBadPolicies)
		}
		p.enterp = &v
	}
	return p, nil
}

// strictObject decodes a JSON object into m, refusing null, other types,
// duplicate keys and trailing data.
func strictObject(b []byte, m *map[string]json.RawMessage) error {
	d := json.NewDecoder(bytes.NewReader(b))
	tok, err := d.Token()
	if err != nil {
		return err
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return errors.New("not a JSON object")
	}
	seen := map[string]bool{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		k := tok.(string)
		if seen[k] {
			return fmt.Errorf("key %q appears twice", k)
		}
		seen[k] = true
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return err
		}
		(*m)[k] = v
	}
	if _, err := d.Token(); err != nil {
		return err
	}
	if _, err := d.Token(); err == nil {
		return errors.New("data after the JSON object")
	}
	return nil
}

// Install returns Certificates.Install.
func (p *Policies) Install() []string { return append([]string(nil), p.install...) }

// ImportEnterpriseRoots returns Certificates.ImportEnterpriseRoots and
// whether it is set.
func (p *Policies) ImportEnterpriseRoots() (value, set bool) {
	if p.enterp == nil {
		return false, false
	}
	return *p.enterp, true
}

// AddInstall adds path to Certificates.Install; false if already there.
func (p *Policies) AddInstall(path string) bool {
	for _, x := range p.install {
		if x == path {
			return false
		}
	}
	p.install = append(p.install, path)
	return true
}

// RemoveInstall removes path from Certificates.Install; false if absent.
// The key goes when the list becomes empty.
func (p *Policies) RemoveInstall(path string) bool {
	out := p.install[:0:0]
	for _, x := range p.install {
		if x != path {
			out = append(out, x)
		}
	}
	changed := len(out) != len(p.install)
	p.install = out
	if changed && len(out) == 0 {
		p.install = nil // an empty Install list means nothing: drop the key
	}
	return changed
}

// SetImportEnterpriseRoots sets the flag; false if it already had v.
func (p *Policies) SetImportEnterpriseRoots(v bool) bool {
	if p.enterp != nil && *p.enterp == v {
		return false
	}
	p.enterp = &v
	return true
}

// Marshal renders the document with every unmanaged key kept.
func (p *Policies) Marshal() ([]byte, error) {
	certs := map[string]json.RawMessage{}
	for k, v := range p.certs {
		certs[k] = v
	}
	if p.install != nil {
		b, _ := json.Marshal(p.install)
		certs["Install"] = b
	} else {
		delete(certs, "Install")
	}
	if p.enterp != nil {
		certs["ImportEnterpriseRoots"], _ = json.Marshal(*p.enterp)
	}
	pol := map[string]json.RawMessage{}
	for k, v := range p.policies {
		pol[k] = v
	}
	if len(certs) > 0 {
		b, err := json.Marshal(certs)
		if err != nil {
			return nil, err
		}
		pol["Certificates"] = b
	} else {
		delete(pol, "Certificates")
	}
	top := map[string]json.RawMessage{}
	for k, v := range p.top {
		top[k] = v
	}
	b, err := json.Marshal(pol)
	if err != nil {
		return nil, err
	}
	top["policies"] = b
	raw, err := json.Marshal(top)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// Empty reports whether the document holds nothing: no key besides an
// empty "policies" object.
func (p *Policies) Empty() (bool, error) {
	b, err := p.Marshal()
	if err != nil {
		return false, err
	}
	same, err := sameJSON(b, []byte(`{"policies":{}}`))
	return same, err
}
