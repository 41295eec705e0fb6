package devices

import (
	"context"
	"fmt"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/macaddr"
)

// Exemption kinds.
const (
	ExemptSubnet   = "subnet"   // a CIDR prefix (guest Wi-Fi, a server VLAN) or a single address
	ExemptMAC      = "mac"      // one MAC address
	ExemptHostname = "hostname" // a hostname or a glob such as "printer-*" or "*.lab.example.com"
)

// Exemption sources.
const (
	SourceAdmin  = "admin"  // added by an administrator (CLI or API)
	SourcePolicy = "policy" // imported from the signed policy the collector serves
)

// Exemption keeps matching devices out of the unmanaged count: servers,
// guest Wi-Fi, printers, privileged roles. ExpiresAt zero means never.
type Exemption struct {
	Kind      string    `json:"kind"`
	Value     string    `json:"value"`
	Reason    string    `json:"reason"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	// Source is SourceAdmin or SourcePolicy. Policy exemptions are
	// replaced whenever a new policy is imported.
	Source string `json:"source"`
}

// ValidationError says that an exemption given to this package is
// malformed: the caller's mistake (an HTTP 400), not a storage failure.
// Test for it with errors.As.
type ValidationError struct{ err error }

func (e *ValidationError) Error() string { return e.err.Error() }
func (e *ValidationError) Unwrap() error { return e.err }

// invalid returns a *ValidationError with the formatted message.
func invalid(format string, args ...any) error {
	return &ValidationError{err: fmt.Errorf(format, args...)}
}

// Active reports whether e applies at now (it has not expired).
func (e Exemption) Active(now time.Time) bool { return e.active(now) }

// Normalize checks e and puts its value in canonical form. A malformed
// exemption is a *ValidationError.
func (e *Exemption) Normalize() error {
	e.Value = strings.TrimSpace(e.Value)
	e.Reason = strings.TrimSpace(e.Reason)
	if e.Reason == "" {
		return invalid("exemption %s %q: a reason is required (who or what it is, e.g. \"guest Wi-Fi\")", e.Kind, e.Value)
	}
	if len(e.Reason) > 500 || len(e.Value) > 253 {
		return invalid("exemption %s: value or reason too long", e.Kind)
	}
	switch e.Kind {
	case ExemptSubnet:
		p, err := netip.ParsePrefix(e.Value)
		if err != nil {
			a, aerr := netip.ParseAddr(e.Value)
			if aerr != nil {
				return invalid("exemption subnet %q: want a CIDR prefix such as 10.20.0.0/16 or an address", e.Value)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		e.Value = p.Masked().String()
	case ExemptMAC:
		m, ok := macaddr.Normalize(e.Value)
		if !ok {
			return invalid("exemption mac %q: want a MAC address such as 00:11:22:33:44:55", e.Value)
		}
		e.Value = m
	case ExemptHostname:
		e.Value = strings.ToLower(strings.TrimSuffix(e.Value, "."))
		if e.Value == "" {
			return invalid("exemption hostname: empty")
		}
		if _, err := path.Match(e.Value, ""); err != nil {
			return invalid("exemption hostname %q: bad pattern: %w", e.Value, err)
		}
	default:
		return invalid("exemption kind %q: want subnet, mac or hostname", e.Kind)
	}
	return nil
}

// active reports whether e applies at now.
func (e Exemption) active(now time.Time) bool {
	return e.ExpiresAt.IsZero() || now.Before(e.ExpiresAt)
}

// AddExemption adds or replaces (same kind and value) an exemption. An
// administrator's exemption replaces a policy one of the same kind and
// value, and a later policy import leaves it alone.
func (d *DB) AddExemption(ctx context.Context, e Exemption) (Exemption, error) {
	if err := e.Normalize(); err != nil {
		return Exemption{}, err
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = time.Now().UTC()
	}
	e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Millisecond)
	if !e.ExpiresAt.IsZero() {
		e.ExpiresAt = e.ExpiresAt.UTC().Truncate(time.Millisecond)
	}
	e.Source = SourceAdmin
	_, err := d.db.ExecContext(ctx, d.q(`INSERT INTO device_exemptions (kind, value, reason, expires_at, created_at, source) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (kind, value) DO UPDATE SET reason = excluded.reason, expires_at = excluded.expires_at, source = excluded.source`),
		e.Kind, e.Value, e.Reason, ms(e.ExpiresAt), ms(e.CreatedAt), e.Source)
	if err != nil {
		return Exemption{}, fmt.Errorf("devices: add exemption: %w", err)
	}
	return e, nil
}

// RemoveExemption deletes an exemption; it reports whether one existed.
func (d *DB) RemoveExemption(ctx context.Context, kind, value string) (bool, error) {
	e := Exemption{Kind: kind, Value: value, Reason: "-"}
	if err := e.Normalize(); err != nil {
		return false, err
	}
	res, err := d.db.ExecContext(ctx, d.q("DELETE FROM device_exemptions WHERE kind = ? AND value = ?"), e.Kind, e.Value)
	if err != nil {
		return false, fmt.Errorf("devices: remove exemption: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Exemptions lists every exemption, expired ones included.
func (d *DB) Exemptions(ctx context.Context) ([]Exemption, error) {
	rows, err := d.rdb.QueryContext(ctx, "SELECT kind, value, reason, expires_at, created_at, source FROM device_exemptions ORDER BY kind, value")
	if err != nil {
		return nil, fmt.Errorf("devices: list exemptions: %w", err)
	}
	defer rows.Close()
	var out []Exemption
	for rows.Next() {
		var e Exemption
		var exp, created int64
		if err := rows.Scan(&e.Kind, &e.Value, &e.Reason, &exp, &created, &e.Source); err != nil {
			return nil, fmt.Errorf("devices: list exemptions: %w", err)
		}
		e.ExpiresAt, e.CreatedAt = fromMS(exp), fromMS(created)
		out = append(out, e)
	}
	return out, rows.Err()
}

// exemptionFor returns the first active exemption covering a device.
func exemptionFor(ex []Exemption, now time.Time, ips []netip.Addr, macs, hosts []string) (Exemption, bool) {
	for _, e := range ex {
		if !e.active(now) {
			continue
		}
		switch e.Kind {
		case ExemptSubnet:
			p, err := netip.ParsePrefix(e.Value)
			if err != nil {
				continue
			}
			for _, ip := range ips {
				if p.Contains(ip) {
					return e, true
				}
			}
		case ExemptMAC:
			for _, m := range macs {
				if m == e.Value {
					return e, true
				}
			}
		case ExemptHostname:
			for _, h := range hosts {
				if ok, _ := path.Match(e.Value, h); ok || h == e.Value {
					return e, true
				}
				if short, _, _ := strings.Cut(h, "."); short != h {
					if ok, _ := path.Match(e.Value, short); ok {
						return e, true
					}
				}
			}
		}
	}
	return Exemption{}, false
}
