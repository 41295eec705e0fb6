package devices

import (
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/evidence"
)

// Device is one device seen on the network, with what is known about it.
type Device struct {
	Key       string           `json:"key"` // "mac:…", "ip:…", "host:…", or "enrolled:ID:ip:…" for an address while an enrolled host held it
	Status    api.DeviceStatus `json:"status"`
	IPs       []string         `json:"ips"`
	MACs      []string         `json:"macs"`
	Hostnames []string         `json:"hostnames"`
	FirstSeen time.Time        `json:"first_seen"`
	LastSeen  time.Time        `json:"last_seen"`
	Sightings int64            `json:"sightings"`
	Sources   []string         `json:"sources"`
	// RejectsCA is true when the proxy saw this device refuse the
	// interception certificate: it does not trust the organization's CA.
	RejectsCA bool `json:"rejects_ca"`
	// TLSFailures are the kinds of failed TLS handshakes with the proxy
	// seen from this device (evidence.HandshakeKind: certificate,
	// protocol, timeout, unknown), sorted; "unknown" only when nothing
	// more precise was seen. Only "certificate" sets RejectsCA.
	TLSFailures []string   `json:"tls_failures,omitempty"`
	Evidence    []Evidence `json:"evidence,omitempty"`
	// ManagedBy is the enrolled host that accounts for the device, and why.
	ManagedBy    int64      `json:"managed_by,omitempty"`
	ManagedMatch string     `json:"managed_match,omitempty"` // "mac", "ip" or "hostname"
	Exemption    *Exemption `json:"exemption,omitempty"`
}

// Evidence is one kind of evidence held on a device.
type Evidence struct {
	Source string `json:"source"`
	Text   string `json:"text"`
	// Kind is the handshake failure kind the text records, if any.
	Kind      string    `json:"kind,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Count     int64     `json:"count"`
}

// Filter selects devices. The zero Filter lists unmanaged and exempt
// devices (not managed ones).
type Filter struct {
	Statuses  []api.DeviceStatus // default: unmanaged and exempt
	Subnet    netip.Prefix       // devices with an address in it
	Source    string             // devices seen by this source ("csv" also matches "csv:…")
	Since     time.Time          // devices last seen at or after
	RejectsCA bool               // only devices that refused the interception certificate
	Now       time.Time          // for exemption expiry; default now
}

// Counts are the figures for the fleet overview and the Prometheus gauge.
type Counts struct {
	Unmanaged int64 `json:"unmanaged"`
	Exempt    int64 `json:"exempt"`
	Managed   int64 `json:"managed"`
	RejectsCA int64 `json:"unmanaged_rejecting_ca"` // unmanaged devices that refused the interception certificate
}

type obsRow struct {
	source, mac, host, ev string
	ip                    netip.Addr
	first, last, leaseEnd int64
	n                     int64
}

type hostAddr struct {
	host        int64
	from, until int64
}

// List matches every observation against the enrolled hosts and the
// exemptions and returns the devices f selects, most recently seen first.
func (d *DB) List(ctx context.Context, f Filter) ([]Device, error) {
	all, err := d.match(ctx, f.Now)
	if err != nil {
		return nil, err
	}
	statuses := f.Statuses
	if len(statuses) == 0 {
		statuses = []api.DeviceStatus{api.DeviceUnmanaged, api.DeviceExempt}
	}
	out := all[:0]
	for _, dev := range all {
		if !slices.Contains(statuses, dev.Status) || (f.RejectsCA && !dev.RejectsCA) ||
			(!f.Since.IsZero() && dev.LastSeen.Before(f.Since)) {
			continue
		}
		if f.Source != "" && !hasSource(dev.Sources, f.Source) {
			continue
		}
		if f.Subnet.IsValid() && !inSubnet(dev.IPs, f.Subnet) {
			continue
		}
		out = append(out, dev)
	}
	return out, nil
}

// Counts returns how many devices are unmanaged, exempt and managed.
func (d *DB) Counts(ctx context.Context, now time.Time) (Counts, error) {
	all, err := d.match(ctx, now)
	if err != nil {
		return Counts{}, err
	}
	var c Counts
	for _, dev := range all {
		switch dev.Status {
		case api.DeviceUnmanaged:
			c.Unmanaged++
			if dev.RejectsCA {
				c.RejectsCA++
			}
		case api.DeviceExempt:
			c.Exempt++
		default:
			c.Managed++
		}
	}
	return c, nil
}

func (d *DB) match(ctx context.Context, now time.Time) ([]Device, error) {
	if now.IsZero() {
		now = time.Now()
	}
	obs, err := d.loadObservations(ctx)
	if err != nil {
		return nil, err
	}
	byIP, byMAC, byName, err := d.loadHosts(ctx)
	if err != nil {
		return nil, err
	}
	ex, err := d.Exemptions(ctx)
	if err != nil {
		return nil, err
	}
	// Leases: address -> (mac, hostname, period), from any row that
	// binds an address to a MAC (DHCP, CSV).
	type lease struct {
		mac, host   string
		from, until int64
	}
	leases := map[netip.Addr][]lease{}
	for _, o := range obs {
		if o.ip.IsValid() && o.mac != "" {
			leases[o.ip] = append(leases[o.ip], lease{o.mac, o.host, o.first, o.leaseEnd})
		}
	}
	// A binding without an end (a lease file that does not say, a CSV
	// row) holds until the address is bound to another MAC.
	for ip, ls := range leases {
		sort.Slice(ls, func(i, j int) bool { return ls[i].from < ls[j].from })
		for i := range ls {
			if ls[i].until != 0 {
				continue
			}
			ls[i].until = math.MaxInt64
			for j := i + 1; j < len(ls); j++ {
				if ls[j].mac != ls[i].mac {
					ls[i].until = ls[j].from - 1
					break
				}
			}
		}
		leases[ip] = ls
	}
	slack := d.IPSlack.Milliseconds()
	// ipHost returns the enrolled host that held ip over [first, last].
	ipHost := func(ip netip.Addr, first, last int64) int64 {
		for _, ha := range byIP[ip] {
			if ha.from-slack <= last && ha.until+slack >= first {
				return ha.host
			}
		}
		return 0
	}
	devs := map[string]*Device{}
	ips := map[string]map[netip.Addr]bool{}
	evs := map[string]map[[2]string]*Evidence{}
	type sighting struct {
		ip          netip.Addr
		first, last int64
	}
	seenAt := map[string][]sighting{}
	for _, o := range obs {
		mac, host := o.mac, o.host
		if mac == "" && o.ip.IsValid() {
			// The lease that held this address when it was seen.
			var best *lease
			for i := range leases[o.ip] {
				l := &leases[o.ip][i]
				if l.from <= o.last && l.until >= o.first && (best == nil || l.from > best.from) {
					best = l
				}
			}
			if best != nil {
				mac = best.mac
				if host == "" {
					host = best.host
				}
			}
		}
		var key string
		var accounted int64
		switch {
		case mac != "":
			key = "mac:" + mac
		case o.ip.IsValid():
			// Without a MAC an address is only a device for a while:
			// sightings while an enrolled host held it are that host.
			key = "ip:" + o.ip.String()
			if accounted = ipHost(o.ip, o.first, o.last); accounted != 0 {
				key = fmt.Sprintf("enrolled:%d:ip:%s", accounted, o.ip)
			}
		default:
			key = "host:" + host
		}
		dev := devs[key]
		if dev == nil {
			dev = &Device{Key: key, FirstSeen: fromMS(o.first), LastSeen: fromMS(o.last)}
			if accounted != 0 {
				dev.ManagedBy, dev.ManagedMatch = accounted, "ip"
			}
			devs[key] = dev
			ips[key] = map[netip.Addr]bool{}
			evs[key] = map[[2]string]*Evidence{}
		}
		if t := fromMS(o.first); t.Before(dev.FirstSeen) {
			dev.FirstSeen = t
		}
		if t := fromMS(o.last); t.After(dev.LastSeen) {
			dev.LastSeen = t
		}
		dev.Sightings += o.n
		dev.Sources = addString(dev.Sources, o.source)
		if mac != "" {
			dev.MACs = addString(dev.MACs, mac)
		}
		if host != "" {
			dev.Hostnames = addString(dev.Hostnames, host)
		}
		if o.ip.IsValid() {
			ips[key][o.ip] = true
			seenAt[key] = append(seenAt[key], sighting{o.ip, o.first, o.last})
		}
		if o.ev != "" {
			kind := evidence.KindOf(o.ev)
			if kind == evidence.KindCertificate {
				dev.RejectsCA = true
			}
			k := [2]string{o.source, o.ev}
			e := evs[key][k]
			if e == nil {
				e = &Evidence{Source: o.source, Text: o.ev, Kind: string(kind), FirstSeen: fromMS(o.first), LastSeen: fromMS(o.last)}
				evs[key][k] = e
			}
			if t := fromMS(o.first); t.Before(e.FirstSeen) {
				e.FirstSeen = t
			}
			if t := fromMS(o.last); t.After(e.LastSeen) {
				e.LastSeen = t
			}
			e.Count += o.n
		}
	}
	out := make([]Device, 0, len(devs))
	for key, dev := range devs {
		var addrs []netip.Addr
		for a := range ips[key] {
			addrs = append(addrs, a)
		}
		sort.Slice(addrs, func(i, j int) bool { return addrs[i].Less(addrs[j]) })
		for _, a := range addrs {
			dev.IPs = append(dev.IPs, a.String())
		}
		for _, e := range evs[key] {
			dev.Evidence = append(dev.Evidence, *e)
		}
		dev.TLSFailures = tlsFailures(dev.Evidence)
		sort.Slice(dev.Evidence, func(i, j int) bool { return dev.Evidence[i].LastSeen.After(dev.Evidence[j].LastSeen) })
		sort.Strings(dev.Sources)
		sort.Strings(dev.MACs)
		sort.Strings(dev.Hostnames)
		// Managed? By MAC, by address at that time, by hostname.
		for _, m := range dev.MACs {
			if id, ok := byMAC[m]; ok {
				dev.ManagedBy, dev.ManagedMatch = id, "mac"
				break
			}
		}
		if dev.ManagedBy == 0 {
			for _, s := range seenAt[key] {
				if id := ipHost(s.ip, s.first, s.last); id != 0 {
					dev.ManagedBy, dev.ManagedMatch = id, "ip"
					break
				}
			}
		}
		if dev.ManagedBy == 0 {
			for _, h := range dev.Hostnames {
				short, _, _ := strings.Cut(h, ".")
				if id, ok := byName[h]; ok {
					dev.ManagedBy, dev.ManagedMatch = id, "hostname"
					break
				} else if id, ok := byName[short]; ok {
					dev.ManagedBy, dev.ManagedMatch = id, "hostname"
					break
				}
			}
		}
		switch {
		case dev.ManagedBy != 0:
			dev.Status = api.DeviceManaged
		default:
			dev.Status = api.DeviceUnmanaged
			if e, ok := exemptionFor(ex, now, addrs, dev.MACs, dev.Hostnames); ok {
				dev.Status = api.DeviceExempt
				dev.Exemption = &e
			}
		}
		out = append(out, *dev)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastSeen.Equal(out[j].LastSeen) {
			return out[i].LastSeen.After(out[j].LastSeen)
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

func (d *DB) loadObservations(ctx context.Context) ([]obsRow, error) {
	rows, err := d.rdb.QueryContext(ctx, "SELECT source, ip, mac, hostname, evidence, first_seen, last_seen, n, lease_end FROM net_observations")
	if err != nil {
		return nil, fmt.Errorf("devices: read observations: %w", err)
	}
	defer rows.Close()
	var out []obsRow
	for rows.Next() {
		var o obsRow
		var ip string
		if err := rows.Scan(&o.source, &ip, &o.mac, &o.host, &o.ev, &o.first, &o.last, &o.n, &o.leaseEnd); err != nil {
			return nil, fmt.Errorf("devices: read observations: %w", err)
		}
		if ip != "" {
			o.ip, _ = netip.ParseAddr(ip)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("devices: read observations: %w", err)
	}
	return out, nil
}

// loadHosts reads what enrolled hosts reported: their addresses over time
// (an address of the host's latest facts holds until its last report),
// MACs and hostnames.
func (d *DB) loadHosts(ctx context.Context) (map[netip.Addr][]hostAddr, map[string]int64, map[string]int64, error) {
	byIP := map[netip.Addr][]hostAddr{}
	byMAC := map[string]int64{}
	byName := map[string]int64{}
	rows, err := d.rdb.QueryContext(ctx, `SELECT a.host_id, a.ip, a.mac, a.first_seen, a.last_seen, h.last_seen,
  (SELECT MAX(b.last_seen) FROM host_addresses b WHERE b.host_id = a.host_id)
FROM host_addresses a JOIN hosts h ON h.id = a.host_id`)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("devices: read enrolled host addresses: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, first, last, hostLast, latest int64
		var ip, mac string
		if err := rows.Scan(&id, &ip, &mac, &first, &last, &hostLast, &latest); err != nil {
			return nil, nil, nil, fmt.Errorf("devices: read enrolled host addresses: %w", err)
		}
		if mac != "" {
			if m, ok := normalizeMAC(mac); ok {
				byMAC[m] = id
			}
		}
		if ip != "" {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				p, perr := netip.ParsePrefix(ip) // "10.0.0.5/24"
				if perr != nil {
					continue
				}
				a = p.Addr()
			}
			until := last
			if last >= latest && hostLast > until {
				until = hostLast // still current: held until the host's last report
			}
			byIP[a.Unmap()] = append(byIP[a.Unmap()], hostAddr{id, first, until})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("devices: read enrolled host addresses: %w", err)
	}
	hrows, err := d.rdb.QueryContext(ctx, "SELECT id, hostname FROM hosts")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("devices: read enrolled hosts: %w", err)
	}
	defer hrows.Close()
	for hrows.Next() {
		var id int64
		var name string
		if err := hrows.Scan(&id, &name); err != nil {
			return nil, nil, nil, fmt.Errorf("devices: read enrolled hosts: %w", err)
		}
		name = strings.ToLower(strings.TrimSuffix(name, "."))
		if name != "" {
			byName[name] = id
			if short, _, ok := strings.Cut(name, "."); ok {
				if _, taken := byName[short]; !taken {
					byName[short] = id
				}
			}
		}
	}
	return byIP, byMAC, byName, hrows.Err()
}

// tlsFailures lists the handshake failure kinds of a device's evidence,
// sorted, leaving out "unknown" when a precise kind was seen (Squid 5
// logs the same failure in cache.log without a reason and in access.log
// with one).
func tlsFailures(evs []Evidence) []string {
	var kinds []string
	for _, e := range evs {
		if e.Kind != "" {
			kinds = addString(kinds, e.Kind)
		}
	}
	if len(kinds) > 1 {
		precise := kinds[:0]
		for _, k := range kinds {
			if k != string(evidence.KindUnknown) {
				precise = append(precise, k)
			}
		}
		kinds = precise
	}
	sort.Strings(kinds)
	return kinds
}

func addString(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasSource(sources []string, want string) bool {
	for _, s := range sources {
		if s == want || strings.HasPrefix(s, want+":") {
			return true
		}
	}
	return false
}

func inSubnet(ips []string, p netip.Prefix) bool {
	for _, s := range ips {
		if a, err := netip.ParseAddr(s); err == nil && p.Contains(a) {
			return true
		}
	}
	return false
}

// Page is one page of a device list, most recently seen first.
type Page struct {
	Devices    []Device `json:"devices"`
	Total      int      `json:"total"` // devices the filter selects, over every page
	NextCursor string   `json:"next_cursor,omitempty"`
}

// Paginate returns the page of devs (as List returns them) after cursor
// (empty: the first page), at most limit long. The cursor names the last
// device of the previous page by when it was last seen and its key, so a
// device that moves while a client pages through is seen at most once.
func Paginate(devs []Device, cursor string, limit int) (Page, error) {
	if limit <= 0 {
		limit = 100
	}
	start := 0
	if cursor != "" {
		at, key, err := parseCursor(cursor)
		if err != nil {
			return Page{}, err
		}
		start = sort.Search(len(devs), func(i int) bool {
			ls := devs[i].LastSeen.UnixMilli()
			return ls < at || (ls == at && devs[i].Key > key)
		})
	}
	p := Page{Total: len(devs), Devices: devs[start:min(len(devs), start+limit)]}
	if start+limit < len(devs) {
		last := p.Devices[len(p.Devices)-1]
		p.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(last.LastSeen.UnixMilli(), 10) + " " + last.Key))
	}
	if p.Devices == nil {
		p.Devices = []Device{}
	}
	return p, nil
}

func parseCursor(c string) (int64, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if ts, key, ok := strings.Cut(string(raw), " "); ok {
			if at, err := strconv.ParseInt(ts, 10, 64); err == nil {
				return at, key, nil
			}
		}
	}
	if len(c) > 40 {
		c = c[:40] + "…"
	}
	return 0, "", fmt.Errorf("cursor %q: not a cursor this collector issued (use next_cursor from the previous page)", c)
}
