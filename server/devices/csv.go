package devices

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// CSVHeader is the header line of WriteCSV.
var csvHeader = []string{"status", "key", "ips", "macs", "hostnames", "first_seen", "last_seen", "sightings", "sources", "rejects_ca", "evidence", "exemption_reason", "managed_by", "tls_failures"}

// WriteCSV writes devices as CSV (multi-valued fields joined with spaces,
// evidence with " | "). Cells starting with = + - @ are prefixed with a
// quote so a spreadsheet does not run them as formulas.
func WriteCSV(w io.Writer, devs []Device) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("devices csv: %w", err)
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, d := range devs {
		var ev []string
		for _, e := range d.Evidence {
			ev = append(ev, e.Source+": "+e.Text)
		}
		reason := ""
		if d.Exemption != nil {
			reason = d.Exemption.Kind + " " + d.Exemption.Value + ": " + d.Exemption.Reason
		}
		managed := ""
		if d.ManagedBy != 0 {
			managed = strconv.FormatInt(d.ManagedBy, 10) + " (" + d.ManagedMatch + ")"
		}
		rec := []string{string(d.Status), d.Key, strings.Join(d.IPs, " "), strings.Join(d.MACs, " "), strings.Join(d.Hostnames, " "),
			ts(d.FirstSeen), ts(d.LastSeen), strconv.FormatInt(d.Sightings, 10), strings.Join(d.Sources, " "),
			strconv.FormatBool(d.RejectsCA), strings.Join(ev, " | "), reason, managed, strings.Join(d.TLSFailures, " ")}
		for i, c := range rec {
			if c != "" && strings.ContainsRune("=+-@", rune(c[0])) {
				rec[i] = "'" + c
			}
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("devices csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("devices csv: %w", err)
	}
	return nil
}
