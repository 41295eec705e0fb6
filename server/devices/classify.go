package devices

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/evidence"
)

// This file is the device matcher without I/O: classify takes the
// observations, what enrolled hosts reported and the exemptions, and
// returns the devices with their status (match.go reads its inputs).

// hostAddr is an address an enrolled host held over [from, until] (Unix ms).
type hostAddr struct {
	host        int64
	from, until int64
}

// enrolled is what the enrolled hosts reported: the addresses they held
// over time, their MACs and their hostnames (full and short) by host id.
type enrolled struct {
	byIP   map[netip.Addr][]hostAddr
	byMAC  map[string]int64
	byName map[string]int64
}

// lease binds an address to a MAC (and hostname) over [from, until].
type lease struct {
	mac, host   string
	from, until int64
}

// sighting is an address a device was seen at over [first, last].
type sighting struct {
	ip          netip.Addr
	first, last int64
}

// classify groups observations into devices (by MAC, else address, else
// hostname; an observation without a MAC takes the MAC of the lease that
// held its address then), decides per device whether an enrolled host
// accounts for it (by MAC, address at that time with slack, hostname)
// or an active exemption covers it, and returns the devices most recently
// seen first.
func classify(obs []obsRow, hosts enrolled, ex []Exemption, now time.Time, slack time.Duration) []Device {
	m := matcher{hosts: hosts, slack: slack.Milliseconds(), leases: leasesOf(obs),
		devs: map[string]*Device{}, ips: map[string]map[netip.Addr]bool{},
		evs: map[string]map[[2]string]*Evidence{}, seenAt: map[string][]sighting{}}
	for _, o := range obs {
		m.add(o)
	}
	out := make([]Device, 0, len(m.devs))
	for key, dev := range m.devs {
		out = append(out, m.finish(key, dev, ex, now))
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastSeen.Equal(out[j].LastSeen) {
			return out[i].LastSeen.After(out[j].LastSeen)
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// leasesOf returns, per address, the bindings to a MAC from any row that
// has one (DHCP, CSV), oldest first. A binding without an end (a lease
// file that does not say, a CSV row) holds until the address is bound to
// another MAC.
func leasesOf(obs []obsRow) map[netip.Addr][]lease {
	leases := map[netip.Addr][]lease{}
	for _, o := range obs {
		if o.ip.IsValid() && o.mac != "" {
			leases[o.ip] = append(leases[o.ip], lease{o.mac, o.host, o.first, o.leaseEnd})
		}
	}
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
	return leases
}

// matcher accumulates devices from observations.
type matcher struct {
	hosts  enrolled
	slack  int64 // ms
	leases map[netip.Addr][]lease
	devs   map[string]*Device
	ips    map[string]map[netip.Addr]bool
	evs    map[string]map[[2]string]*Evidence
	seenAt map[string][]sighting
}

// ipHost returns the enrolled host that held ip over [first, last], or 0.
func (m *matcher) ipHost(ip netip.Addr, first, last int64) int64 {
	for _, ha := range m.hosts.byIP[ip] {
		if ha.from-m.slack <= last && ha.until+m.slack >= first {
			return ha.host
		}
	}
	return 0
}

// identify returns the device key of o, its MAC and hostname (from the
// lease that held its address when it was seen, if it has none), and
// the enrolled host that held its address then, for a device known only
// by address.
func (m *matcher) identify(o obsRow) (key, mac, host string, accounted int64) {
	mac, host = o.mac, o.host
	if mac == "" && o.ip.IsValid() {
		var best *lease
		for i := range m.leases[o.ip] {
			l := &m.leases[o.ip][i]
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
	switch {
	case mac != "":
		return "mac:" + mac, mac, host, 0
	case o.ip.IsValid():
		// Without a MAC an address is only a device for a while:
		// sightings while an enrolled host held it are that host.
		if accounted = m.ipHost(o.ip, o.first, o.last); accounted != 0 {
			return fmt.Sprintf("enrolled:%d:ip:%s", accounted, o.ip), mac, host, accounted
		}
		return "ip:" + o.ip.String(), mac, host, 0
	}
	return "host:" + host, mac, host, 0
}

// add adds one observation to its device.
func (m *matcher) add(o obsRow) {
	key, mac, host, accounted := m.identify(o)
	dev := m.devs[key]
	if dev == nil {
		dev = &Device{Key: key, FirstSeen: fromMS(o.first), LastSeen: fromMS(o.last)}
		if accounted != 0 {
			dev.ManagedBy, dev.ManagedMatch = accounted, "ip"
		}
		m.devs[key] = dev
		m.ips[key] = map[netip.Addr]bool{}
		m.evs[key] = map[[2]string]*Evidence{}
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
		m.ips[key][o.ip] = true
		m.seenAt[key] = append(m.seenAt[key], sighting{o.ip, o.first, o.last})
	}
	if o.ev != "" {
		m.addEvidence(key, dev, o)
	}
}

// addEvidence records o's evidence text on dev.
func (m *matcher) addEvidence(key string, dev *Device, o obsRow) {
	kind := evidence.KindOf(o.ev)
	if kind == evidence.KindCertificate {
		dev.RejectsCA = true
	}
	k := [2]string{o.source, o.ev}
	e := m.evs[key][k]
	if e == nil {
		e = &Evidence{Source: o.source, Text: o.ev, Kind: string(kind), FirstSeen: fromMS(o.first), LastSeen: fromMS(o.last)}
		m.evs[key][k] = e
	}
	if t := fromMS(o.first); t.Before(e.FirstSeen) {
		e.FirstSeen = t
	}
	if t := fromMS(o.last); t.After(e.LastSeen) {
		e.LastSeen = t
	}
	e.Count += o.n
}

// finish sorts what dev holds and decides its status.
func (m *matcher) finish(key string, dev *Device, ex []Exemption, now time.Time) Device {
	var addrs []netip.Addr
	for a := range m.ips[key] {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].Less(addrs[j]) })
	for _, a := range addrs {
		dev.IPs = append(dev.IPs, a.String())
	}
	for _, e := range m.evs[key] {
		dev.Evidence = append(dev.Evidence, *e)
	}
	dev.TLSFailures = tlsFailures(dev.Evidence)
	sort.Slice(dev.Evidence, func(i, j int) bool { return dev.Evidence[i].LastSeen.After(dev.Evidence[j].LastSeen) })
	sort.Strings(dev.Sources)
	sort.Strings(dev.MACs)
	sort.Strings(dev.Hostnames)
	m.managedBy(key, dev)
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
	return *dev
}

// managedBy sets the enrolled host that accounts for dev, if any: by
// MAC, by address at that time, by hostname (full, then short).
func (m *matcher) managedBy(key string, dev *Device) {
	for _, mac := range dev.MACs {
		if id, ok := m.hosts.byMAC[mac]; ok {
			dev.ManagedBy, dev.ManagedMatch = id, "mac"
			return
		}
	}
	if dev.ManagedBy != 0 {
		return
	}
	for _, s := range m.seenAt[key] {
		if id := m.ipHost(s.ip, s.first, s.last); id != 0 {
			dev.ManagedBy, dev.ManagedMatch = id, "ip"
			return
		}
	}
	for _, h := range dev.Hostnames {
		short, _, _ := strings.Cut(h, ".")
		if id, ok := m.hosts.byName[h]; ok {
			dev.ManagedBy, dev.ManagedMatch = id, "hostname"
			return
		} else if id, ok := m.hosts.byName[short]; ok {
			dev.ManagedBy, dev.ManagedMatch = id, "hostname"
			return
		}
	}
}
