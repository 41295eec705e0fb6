package devices

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/anchorwatch/anchorwatch/policy"
)

// PolicyImport is what ImportPolicy did.
type PolicyImport struct {
	Serial     int64 `json:"serial"`
	Exemptions int   `json:"exemptions"` // device exemptions now held from the policy
	// Skipped counts entries the collector cannot apply to devices it
	// sees on the network: inventory groups (a device seen by the proxy
	// belongs to no group) and entries shadowed by an administrator's
	// exemption of the same kind and value.
	Skipped   int  `json:"skipped"`
	Unchanged bool `json:"unchanged"` // this serial was already imported
}

// PolicyExemptions turns a policy's exemptions into device exemptions
// (hosts become hostname patterns, subnets and MACs stay what they are).
// Groups name enrolled hosts' inventory groups, which a device seen on
// the network does not have: they are returned as skipped.
func PolicyExemptions(doc *policy.Document) (out []Exemption, skipped int) {
	for _, pe := range doc.Exemptions {
		var exp time.Time
		if pe.Expires != nil {
			exp = pe.Expires.UTC()
		}
		add := func(kind, value string) {
			e := Exemption{Kind: kind, Value: value, Reason: pe.Reason, ExpiresAt: exp, Source: SourcePolicy}
			if err := e.Normalize(); err != nil {
				skipped++
				return
			}
			out = append(out, e)
		}
		for _, h := range pe.Hosts {
			add(ExemptHostname, h)
		}
		for _, s := range pe.Subnets {
			add(ExemptSubnet, s)
		}
		for _, m := range pe.MACs {
			add(ExemptMAC, m)
		}
		skipped += len(pe.Groups)
	}
	return out, skipped
}

// ImportPolicy replaces the exemptions taken from a policy with those of
// the signed policy blob of the given serial. A serial already imported
// changes nothing.
//
// The blob's signature is not checked against the policy signer: the
// collector does not hold the signer's pin (agents do), and it serves the
// blob without trusting it. Exemptions only decide which unmanaged devices
// are listed as exempt — something any admin token can do directly — so
// reading them from an unverified upload grants nothing. The upload path
// (server.PolicySerial) has already checked that the signature verifies
// against the certificate the blob carries, so a corrupted blob is refused
// before it gets here.
func (d *DB) ImportPolicy(ctx context.Context, serial int64, blob []byte) (PolicyImport, error) {
	res := PolicyImport{Serial: serial}
	var cur int64
	err := d.db.QueryRowContext(ctx, "SELECT serial FROM devices_policy_import WHERE id = 1").Scan(&cur)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return res, fmt.Errorf("devices: read imported policy serial: %w", err)
	}
	if err == nil && cur == serial {
		res.Unchanged = true
		return res, nil
	}
	content, _, err := policy.Content(blob)
	if err != nil {
		return res, fmt.Errorf("devices: policy serial %d: %w", serial, err)
	}
	doc, err := policy.Parse(content)
	if err != nil {
		return res, fmt.Errorf("devices: policy serial %d: %w", serial, err)
	}
	ex, skipped := PolicyExemptions(doc)
	res.Skipped = skipped
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("devices: import policy exemptions: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, d.q("DELETE FROM device_exemptions WHERE source = ?"), SourcePolicy); err != nil {
		return res, fmt.Errorf("devices: import policy exemptions: %w", err)
	}
	now := time.Now().UnixMilli()
	for _, e := range ex {
		r, err := tx.ExecContext(ctx, d.q(`INSERT INTO device_exemptions (kind, value, reason, expires_at, created_at, source) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (kind, value) DO NOTHING`), e.Kind, e.Value, e.Reason, ms(e.ExpiresAt), now, SourcePolicy)
		if err != nil {
			return res, fmt.Errorf("devices: import policy exemption %s %s: %w", e.Kind, e.Value, err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			res.Skipped++ // an admin's exemption of the same kind and value, or a duplicate
		} else {
			res.Exemptions++
		}
	}
	if _, err := tx.ExecContext(ctx, d.q(`INSERT INTO devices_policy_import (id, serial, exemptions, skipped, imported_at) VALUES (1, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET serial = excluded.serial, exemptions = excluded.exemptions, skipped = excluded.skipped, imported_at = excluded.imported_at`),
		serial, res.Exemptions, res.Skipped, now); err != nil {
		return res, fmt.Errorf("devices: import policy exemptions: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("devices: import policy exemptions: commit: %w", err)
	}
	return res, nil
}

// ImportedPolicySerial returns the serial of the policy whose exemptions
// are held, 0 if none was imported.
func (d *DB) ImportedPolicySerial(ctx context.Context) (int64, error) {
	var cur int64
	err := d.rdb.QueryRowContext(ctx, "SELECT serial FROM devices_policy_import WHERE id = 1").Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("devices: read imported policy serial: %w", err)
	}
	return cur, nil
}
