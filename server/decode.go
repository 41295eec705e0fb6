package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/inventory"
)

// errTooLarge is returned when a body exceeds api.MaxBodyBytes.
var errTooLarge = errors.New("request body exceeds the limit")

// readBody reads at most limit bytes of r's body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge
		}
		return nil, fmt.Errorf("read request body: %w", err)
	}
	return body, nil
}

// decodeStrict decodes one JSON value into v: valid UTF-8, no unknown
// fields, nothing after the value.
func decodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("empty body: send a JSON object")
	}
	if !utf8.Valid(body) {
		return errors.New("body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("malformed JSON: data after the object")
	}
	return nil
}

// DecodeReport decodes and validates a report body. It is what the
// collector runs on every POST /api/v1/report (and what the fuzz target
// feeds).
func DecodeReport(body []byte) (*api.ReportRequest, error) {
	var r api.ReportRequest
	if err := decodeStrict(body, &r); err != nil {
		return nil, err
	}
	if err := validateReport(&r); err != nil {
		return nil, err
	}
	return &r, nil
}

// DecodeEnroll decodes and validates an enrollment body.
func DecodeEnroll(body []byte) (*api.EnrollRequest, error) {
	var r api.EnrollRequest
	if err := decodeStrict(body, &r); err != nil {
		return nil, err
	}
	if err := validateFacts("host", &r.Host); err != nil {
		return nil, err
	}
	if r.Host.Hostname == "" {
		return nil, errors.New("host.hostname is required")
	}
	if err := checkString("enroll_secret", r.EnrollSecret); err != nil {
		return nil, err
	}
	return &r, nil
}

var (
	idRE        = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`) // printable ASCII, no space
	eventTypeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	hexRE       = regexp.MustCompile(`^[0-9a-fA-F:]{0,128}$`)
	macRE       = regexp.MustCompile(`^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5,7}$`)
)

// storeStatuses are the statuses a store may report (stores.Statuses),
// and storeStatusList names them for error messages.
var storeStatuses, storeStatusList = func() (map[stores.Status]bool, string) {
	m := map[stores.Status]bool{}
	var names []string
	for _, st := range stores.Statuses() {
		m[st] = true
		names = append(names, string(st))
	}
	return m, strings.Join(names, ", ")
}()

func checkString(field, s string) error {
	if len(s) > api.MaxStringLen {
		return fmt.Errorf("%s: longer than %d bytes", field, api.MaxStringLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return fmt.Errorf("%s: contains a NUL byte", field)
		}
	}
	return nil
}

func validateFacts(field string, f *api.HostFacts) error {
	for name, v := range map[string]string{"hostname": f.Hostname, "machine_id": f.MachineID, "os": f.OS,
		"os_version": f.OSVersion, "arch": f.Arch, "agent_version": f.AgentVersion} {
		if err := checkString(field+"."+name, v); err != nil {
			return err
		}
	}
	if len(f.Hostname) > 255 {
		return fmt.Errorf("%s.hostname: longer than 255 bytes", field)
	}
	if len(f.IPs) > api.MaxAddrs || len(f.MACs) > api.MaxAddrs {
		return fmt.Errorf("%s: more than %d IPs or MACs", field, api.MaxAddrs)
	}
	for i, ip := range f.IPs {
		if len(ip) > 64 || !validIP(ip) {
			return fmt.Errorf("%s.ips[%d]: %q is not an IP address", field, i, clip(ip))
		}
	}
	for i, mac := range f.MACs {
		if !macRE.MatchString(mac) {
			return fmt.Errorf("%s.macs[%d]: %q is not a MAC address (aa:bb:cc:dd:ee:ff)", field, i, clip(mac))
		}
	}
	return nil
}

// validateReport checks a report against the limits and vocabulary of
// api: its header and counts here, each list in its validator.
func validateReport(r *api.ReportRequest) error {
	if !idRE.MatchString(r.ReportID) {
		return errors.New("report_id: required, 1-128 printable ASCII characters")
	}
	if r.Kind != api.ReportFull && r.Kind != api.ReportHeartbeat {
		return fmt.Errorf("kind %q: use %q or %q", clip(r.Kind), api.ReportFull, api.ReportHeartbeat)
	}
	if r.PolicySerial < 0 {
		return errors.New("policy_serial: negative")
	}
	if err := checkString("state_hash", r.StateHash); err != nil {
		return err
	}
	if len(r.Stores) > api.MaxStores {
		return fmt.Errorf("stores: %d, more than %d", len(r.Stores), api.MaxStores)
	}
	if len(r.Events) > api.MaxEvents {
		return fmt.Errorf("events: %d, more than %d", len(r.Events), api.MaxEvents)
	}
	if len(r.UnknownRoots) > api.MaxUnknownRoots {
		return fmt.Errorf("unknown_roots: %d, more than %d", len(r.UnknownRoots), api.MaxUnknownRoots)
	}
	if len(r.CAs) > api.MaxUnknownRoots {
		return fmt.Errorf("cas: %d, more than %d", len(r.CAs), api.MaxUnknownRoots)
	}
	if r.Kind == api.ReportHeartbeat && (len(r.Stores) > 0 || len(r.UnknownRoots) > 0 || len(r.CAs) > 0) {
		return errors.New("a heartbeat carries no stores, unknown_roots or cas: send kind \"full\"")
	}
	if r.Host != nil {
		if err := validateFacts("host", r.Host); err != nil {
			return err
		}
	}
	for _, check := range []func(*api.ReportRequest) error{validateReportStores, validateReportRoots, validateReportCAs, validateReportEvents} {
		if err := check(r); err != nil {
			return err
		}
	}
	return nil
}

// validateReportStores checks the stores: id and kind, no repeats, a
// known status, bounded strings.
func validateReportStores(r *api.ReportRequest) error {
	seen := make(map[string]bool, len(r.Stores))
	for i, s := range r.Stores {
		f := fmt.Sprintf("stores[%d]", i)
		if s.ID == "" || s.Kind == "" {
			return fmt.Errorf("%s: id and kind are required", f)
		}
		if seen[s.ID] {
			return fmt.Errorf("%s: duplicate store id %q", f, clip(s.ID))
		}
		seen[s.ID] = true
		if !storeStatuses[s.Status] {
			return fmt.Errorf("%s: status %q: use one of %s", f, clip(string(s.Status)), storeStatusList)
		}
		for name, v := range map[string]string{"id": s.ID, "kind": string(s.Kind), "path": s.Path, "format": s.Format, "owner": s.Owner, "detail": s.Detail} {
			if err := checkString(f+"."+name, v); err != nil {
				return err
			}
		}
		if len(s.Kind) > 64 {
			return fmt.Errorf("%s.kind: longer than 64 bytes", f)
		}
	}
	return nil
}

// validateReportRoots checks the unknown and blocked roots.
func validateReportRoots(r *api.ReportRequest) error {
	seen := make(map[string]bool, len(r.UnknownRoots))
	for i, rt := range r.UnknownRoots {
		f := fmt.Sprintf("unknown_roots[%d]", i)
		if rt.SHA256 == "" || !hexRE.MatchString(rt.SHA256) || !hexRE.MatchString(rt.SPKI) {
			return fmt.Errorf("%s: sha256 is required, in hex", f)
		}
		if seen[rt.SHA256] {
			return fmt.Errorf("%s: duplicate sha256", f)
		}
		seen[rt.SHA256] = true
		if rt.Class != inventory.Unknown && rt.Class != inventory.Blocked {
			return fmt.Errorf("%s: class %q: use %s or %s", f, clip(string(rt.Class)), inventory.Unknown, inventory.Blocked)
		}
		if len(rt.StoreIDs) > api.MaxStores {
			return fmt.Errorf("%s: more than %d store_ids", f, api.MaxStores)
		}
		for name, v := range map[string]string{"subject": rt.Subject, "issuer": rt.Issuer, "reason": rt.Reason} {
			if err := checkString(f+"."+name, v); err != nil {
				return err
			}
		}
		for j, id := range rt.StoreIDs {
			if err := checkString(fmt.Sprintf("%s.store_ids[%d]", f, j), id); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateReportCAs checks the policy CAs the host reports.
func validateReportCAs(r *api.ReportRequest) error {
	seen := make(map[string]bool, len(r.CAs))
	for i, ca := range r.CAs {
		f := fmt.Sprintf("cas[%d]", i)
		if ca.SHA256 == "" || !hexRE.MatchString(ca.SHA256) {
			return fmt.Errorf("%s: sha256 is required, in hex", f)
		}
		if seen[ca.SHA256] {
			return fmt.Errorf("%s: duplicate sha256", f)
		}
		seen[ca.SHA256] = true
		if err := checkString(f+".subject", ca.Subject); err != nil {
			return err
		}
	}
	return nil
}

// validateReportEvents checks the events: ids unique, types well formed.
func validateReportEvents(r *api.ReportRequest) error {
	seen := make(map[string]bool, len(r.Events))
	for i, e := range r.Events {
		f := fmt.Sprintf("events[%d]", i)
		if !idRE.MatchString(e.ID) {
			return fmt.Errorf("%s: id is required, 1-128 printable ASCII characters", f)
		}
		if seen[e.ID] {
			return fmt.Errorf("%s: duplicate event id %q", f, e.ID)
		}
		seen[e.ID] = true
		if !eventTypeRE.MatchString(string(e.Type)) {
			return fmt.Errorf("%s: type %q: lowercase letters, digits and '-'", f, clip(string(e.Type)))
		}
		for name, v := range map[string]string{"store_id": e.StoreID, "sha256": e.SHA256, "detail": e.Detail} {
			if err := checkString(f+"."+name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// clip shortens a value quoted back in an error message.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return s
}
