package evidence

import (
	"net/netip"
	"time"
)

// Source names the kind of evidence an Observation came from.
const (
	SourceSquidAccess = "squid-access"
	SourceSquidCache  = "squid-cache"
	SourceDHCPD       = "dhcpd"
	SourceKea         = "kea"
	SourceDnsmasq     = "dnsmasq"
	SourceCSV         = "csv"
)

// Observation is one device seen on the network: an address, a MAC or a
// hostname (at least one is set) over an interval of time. Parsers aggregate
// repeated sightings of the same device within a batch into one Observation
// with Count > 1.
type Observation struct {
	Source   string     // one of the Source* constants ("csv:<name>" for a CSV row naming its source)
	IP       netip.Addr // zero if unknown
	MAC      string     // lowercase, colon-separated; "" if unknown
	Hostname string     // lowercase; "" if unknown
	Time     time.Time  // first sighting (UTC)
	Last     time.Time  // last sighting (UTC); equal to Time for a single line
	Count    int64      // lines aggregated into this observation (≥ 1)
	LeaseEnd time.Time  // DHCP: when the lease ends; zero if none or infinite
	Evidence string     // why this matters, e.g. a rejected interception certificate
}

// Stats counts what a parse saw. Lines = Parsed + Malformed + TooLong +
// Ignored; Partial counts an unterminated last line (also in Lines).
type Stats struct {
	Lines     int64 // lines read
	Parsed    int64 // lines that yielded an observation
	Ignored   int64 // well-formed lines that carry no device (comments, headers, unrelated cache.log lines)
	Malformed int64 // lines that could not be parsed
	TooLong   int64 // lines over the size limit, skipped
	Partial   int64 // an unterminated last line at end of input
	// Unattributed counts evidence lines (also in Ignored) that name no
	// client, e.g. Squid 4's "Error negotiating SSL connection on FD n".
	Unattributed int64
	Bytes        int64 // bytes consumed
}

// Add returns the sum of two Stats.
func (s Stats) Add(o Stats) Stats {
	return Stats{
		Lines:        s.Lines + o.Lines,
		Parsed:       s.Parsed + o.Parsed,
		Ignored:      s.Ignored + o.Ignored,
		Malformed:    s.Malformed + o.Malformed,
		TooLong:      s.TooLong + o.TooLong,
		Partial:      s.Partial + o.Partial,
		Unattributed: s.Unattributed + o.Unattributed,
		Bytes:        s.Bytes + o.Bytes,
	}
}

// Batch is what a parser hands to its consumer: observations for a run of
// complete lines, and the input offset just after the last of those lines.
// Observations is reused after emit returns: copy what you keep.
type Batch struct {
	Observations []Observation
	// Offset is the byte offset, from the start of the input, just after
	// the last complete line this batch covers. Every line before Offset
	// has been accounted for in this batch or an earlier one: committing
	// the observations and Offset together makes an ingest resumable.
	Offset int64
	Stats  Stats // cumulative up to Offset
}
