package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/server/evidence"
)

// Bounds of a findings scan: lines longer than maxFindingLine are skipped,
// and no more than maxTracked destinations and clients are tracked (the
// rest is counted in Findings.Untracked).
const (
	maxFindingLine = 64 << 10
	maxTracked     = 100_000
)

// Findings is what Squid's access.log (written with the anchorwatch
// logformat, evidence.SquidLogFormat) shows about destinations
// interception breaks.
type Findings struct {
	Lines     int64 `json:"lines"`
	Parsed    int64 `json:"parsed"`    // lines in the native format
	Extended  int64 `json:"extended"`  // of those, lines with the anchorwatch fields
	Skipped   int64 `json:"skipped"`   // malformed or over-long lines
	Untracked int64 `json:"untracked"` // lines about destinations or clients past the tracking bound

	// UpstreamFailures: destinations whose certificate the proxy could
	// not validate, worst first.
	UpstreamFailures []UpstreamFailure `json:"upstream_failures,omitempty"`
	// ClientCertificate: destinations that ask for a client certificate,
	// which interception cannot present: bypass them.
	ClientCertificate []Destination `json:"client_certificate,omitempty"`
	// Pinned: destinations whose clients complete the handshake with the
	// proxy and then send nothing, or refuse its certificate while
	// accepting it for other sites: pinned applications, bypass them.
	Pinned []Pinned `json:"pinned,omitempty"`
}

// Destination is a destination seen in a given situation.
type Destination struct {
	Host   string    `json:"host"`
	Count  int64     `json:"count"`
	First  time.Time `json:"first"`
	Last   time.Time `json:"last"`
	Detail string    `json:"detail,omitempty"`
}

// UpstreamFailure is a destination whose certificate failed the proxy's
// validation.
type UpstreamFailure struct {
	Destination
	Errors  []string `json:"errors"`           // OpenSSL/Squid verification errors, e.g. X509_V_ERR_CERT_HAS_EXPIRED@depth=0
	Issuer  string   `json:"issuer,omitempty"` // issuer of the site's certificate as Squid logs it
	Subject string   `json:"subject,omitempty"`
	// MissingRoot names the root the proxy lacks, when the site's issuer
	// is a root of the reference store (the current bundle).
	MissingRoot string `json:"missing_root,omitempty"`
	// OutdatedStore is true when the failure is an issuer the proxy's
	// store does not have: an outdated root store, or a site that does
	// not send its intermediate.
	OutdatedStore bool `json:"outdated_store"`
}

// Pinned is a destination that looks pinned by an application.
type Pinned struct {
	Host string `json:"host"`
	// SilentTunnels: bumped tunnels whose handshake completed and that
	// carried no request.
	SilentTunnels int64 `json:"silent_tunnels"`
	// Refusals: certificate refusals by clients that accept the
	// interception CA for other destinations.
	Refusals int64    `json:"refusals"`
	Clients  []string `json:"clients"`
}

// destStats accumulates what is seen about one destination.
type destStats struct {
	fail          *UpstreamFailure
	clientCert    *Destination
	tunnels       int64 // bumped tunnels with a completed client handshake
	requests      int64 // requests inside bumped tunnels
	tunnelClients map[string]bool
	refusers      map[string]int64 // client -> certificate refusals
}

// scanner scans access.log lines into Findings.
type scanner struct {
	f       Findings
	fields  []string
	dests   map[string]*destStats
	trusted map[string]map[string]bool // client -> destinations it fetched through the bump
	roots   map[string]*x509.Certificate
}

// ScanAccessLogs reads Squid access.log streams and returns the findings.
// roots are the reference root store (the current bundle) used to name
// missing roots; nil names none.
func ScanAccessLogs(ctx context.Context, logs []io.Reader, roots []*x509.Certificate) (*Findings, error) {
	s := &scanner{dests: map[string]*destStats{}, trusted: map[string]map[string]bool{}, roots: map[string]*x509.Certificate{}}
	for _, r := range roots {
		s.roots[OneLineName(r.RawSubject)] = r
	}
	for _, r := range logs {
		if err := s.read(ctx, r); err != nil {
			return nil, err
		}
	}
	s.finish()
	return &s.f, nil
}

func (s *scanner) read(ctx context.Context, r io.Reader) error {
	br := bufio.NewReaderSize(r, maxFindingLine+1)
	skipping := false
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if !skipping {
				s.f.Lines++
				s.f.Skipped++
			}
			skipping = true
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading the access log: %w", err)
		}
		if len(line) > 0 {
			if !skipping {
				s.f.Lines++
				s.line(bytes.TrimRight(line, "\r\n"))
			}
			skipping = false
		}
		if err != nil {
			return nil
		}
	}
}

// Fields of the anchorwatch logformat (0-based).
const (
	fTime, fClient, fCode, fBytes, fMethod, fURL = 0, 2, 3, 4, 5, 6
	fErr, fBump, fSNI, fCertErrs, fIssuer, fSub  = 10, 11, 12, 13, 14, 15
	nativeFields, anchorwatchFields              = 10, 16
)

// fields splits line at spaces into s.fields (reused from line to line).
func (s *scanner) split(line string) []string {
	f := s.fields[:0]
	for {
		line = strings.TrimLeft(line, " \t")
		if line == "" {
			break
		}
		end := strings.IndexAny(line, " \t")
		if end < 0 {
			end = len(line)
		}
		f = append(f, line[:end])
		line = line[end:]
	}
	s.fields = f
	return f
}

func (s *scanner) line(b []byte) {
	f := s.split(string(b))
	if len(f) < nativeFields || f[0][0] == '#' {
		s.f.Skipped++
		return
	}
	ts, ok := parseSquidTime(f[fTime])
	if !ok || !strings.Contains(f[fCode], "/") {
		s.f.Skipped++
		return
	}
	s.f.Parsed++
	if len(f) < anchorwatchFields || !strings.Contains(f[fErr], "/") {
		return // the native format says nothing about TLS
	}
	s.f.Extended++
	dest := destination(f[fMethod], f[fURL], f[fSNI])
	if dest == "" {
		return
	}
	d := s.dest(dest)
	if d == nil {
		s.f.Untracked++
		return
	}
	code, detail, _ := strings.Cut(f[fErr], "/")
	client := f[fClient]
	switch {
	case code == "ERR_SECURE_CONNECT_FAIL":
		if f[fMethod] == "CONNECT" { // not the error page served after it
			s.upstream(d, dest, detail, f, ts)
		}
	case code == "ERR_SECURE_ACCEPT_FAIL":
		if kind, _ := evidence.ClassifySquidTLS(detail); kind == evidence.KindCertificate && len(d.refusers) < maxTracked {
			d.refusers[strings.Clone(client)]++
		}
	case f[fMethod] == "CONNECT" && f[fBump] == "bump" && code == "-":
		d.tunnels++
		if !d.tunnelClients[client] && len(d.tunnelClients) < maxTracked {
			d.tunnelClients[strings.Clone(client)] = true
		}
	case f[fMethod] != "CONNECT" && strings.HasPrefix(f[fURL], "https://") && code == "-":
		d.requests++
		t := s.trusted[client]
		if t == nil && len(s.trusted) < maxTracked {
			t = map[string]bool{}
			s.trusted[strings.Clone(client)] = t
		}
		if t != nil && !t[dest] && len(t) < 64 {
			t[strings.Clone(dest)] = true
		}
	}
}

func (s *scanner) dest(host string) *destStats {
	if d := s.dests[host]; d != nil {
		return d
	}
	if len(s.dests) >= maxTracked {
		return nil
	}
	d := &destStats{tunnelClients: map[string]bool{}, refusers: map[string]int64{}}
	s.dests[strings.Clone(host)] = d
	return d
}

// upstream records a failed connection to the destination: a certificate
// the proxy could not validate, or a server that wanted a client
// certificate.
func (s *scanner) upstream(d *destStats, dest, detail string, f []string, ts time.Time) {
	certErrs := f[fCertErrs]
	if certErrs == "-" || certErrs == "" {
		if why, ok := clientCertRequest(detail, f[fSub]); ok {
			if d.clientCert == nil {
				d.clientCert = &Destination{Host: strings.Clone(dest), First: ts, Detail: why}
			}
			see(d.clientCert, ts)
		}
		return
	}
	if d.fail == nil {
		d.fail = &UpstreamFailure{Destination: Destination{Host: strings.Clone(dest), First: ts}}
	}
	u := d.fail
	see(&u.Destination, ts)
	for _, e := range strings.Split(certErrs, ":") {
		if e != "" && len(u.Errors) < 8 && !contains(u.Errors, e) {
			u.Errors = append(u.Errors, strings.Clone(e))
		}
	}
	if iss := unescape(f[fIssuer]); iss != "-" && iss != "" {
		u.Issuer = strings.Clone(iss)
	}
	if sub := unescape(f[fSub]); sub != "-" && sub != "" {
		u.Subject = strings.Clone(sub)
	}
	if missingIssuer(u.Errors) {
		u.OutdatedStore = true
		if r := s.roots[u.Issuer]; r != nil {
			u.MissingRoot = u.Issuer
		}
	}
}

// clientCertRequest tells a server that asked for a client certificate:
// it sent its certificate (Squid logged the subject) and then refused the
// handshake with certificate_required (TLS 1.3), bad_certificate or
// handshake_failure — what a server says to a client that presents none.
func clientCertRequest(detail, subject string) (string, bool) {
	if subject == "-" || subject == "" {
		return "", false // failed before the server's certificate: a protocol mismatch
	}
	i := strings.Index(detail, "TLS_LIB_ERR=")
	if i < 0 {
		return "", false
	}
	var code uint64
	fmt.Sscanf(detail[i+len("TLS_LIB_ERR="):], "%x", &code)
	switch code & 0xfff {
	case 1116:
		return "the server requires a client certificate (alert certificate_required)", true
	case 1042:
		return "the server refused the proxy's empty client certificate (alert bad_certificate)", true
	case 1040:
		return "the server broke off the handshake after sending its certificate (alert handshake_failure): it asks for a client certificate", true
	}
	return "", false
}

func missingIssuer(errs []string) bool {
	for _, e := range errs {
		for _, m := range []string{"UNABLE_TO_GET_ISSUER_CERT", "SELF_SIGNED_CERT_IN_CHAIN", "UNABLE_TO_VERIFY_LEAF_SIGNATURE"} {
			if strings.Contains(e, m) {
				return true
			}
		}
	}
	return false
}

func see(d *Destination, ts time.Time) {
	d.Count++
	if ts.Before(d.First) {
		d.First = ts
	}
	if ts.After(d.Last) {
		d.Last = ts
	}
}

// destination is the site a line is about: the SNI when logged, else the
// host of the URL ("host:443" for a CONNECT).
func destination(method, rawURL, sni string) string {
	if sni != "-" && sni != "" {
		return strings.ToLower(sni)
	}
	if method == "CONNECT" {
		if h, _, err := net.SplitHostPort(rawURL); err == nil {
			return strings.ToLower(h)
		}
		return ""
	}
	if u, err := url.Parse(rawURL); err == nil && u.Hostname() != "" {
		return strings.ToLower(u.Hostname())
	}
	return ""
}

// finish turns the per-destination counts into sorted findings.
func (s *scanner) finish() {
	for host, d := range s.dests {
		if d.fail != nil {
			s.f.UpstreamFailures = append(s.f.UpstreamFailures, *d.fail)
		}
		if d.clientCert != nil {
			s.f.ClientCertificate = append(s.f.ClientCertificate, *d.clientCert)
		}
		p := Pinned{Host: host}
		if d.tunnels > 0 && d.requests == 0 {
			p.SilentTunnels = d.tunnels
			for c := range d.tunnelClients {
				p.Clients = append(p.Clients, c)
			}
		}
		for c, n := range d.refusers {
			if s.trustsElsewhere(c, host) {
				p.Refusals += n
				if !contains(p.Clients, c) {
					p.Clients = append(p.Clients, c)
				}
			}
		}
		if p.SilentTunnels+p.Refusals > 0 {
			sort.Strings(p.Clients)
			s.f.Pinned = append(s.f.Pinned, p)
		}
	}
	sort.Slice(s.f.UpstreamFailures, func(i, j int) bool {
		a, b := s.f.UpstreamFailures[i], s.f.UpstreamFailures[j]
		return a.Count > b.Count || a.Count == b.Count && a.Host < b.Host
	})
	sort.Slice(s.f.ClientCertificate, func(i, j int) bool { return s.f.ClientCertificate[i].Host < s.f.ClientCertificate[j].Host })
	sort.Slice(s.f.Pinned, func(i, j int) bool { return s.f.Pinned[i].Host < s.f.Pinned[j].Host })
}

// trustsElsewhere: the client fetched another destination through the
// bump, so it trusts the interception CA.
func (s *scanner) trustsElsewhere(client, host string) bool {
	for d := range s.trusted[client] {
		if d != host {
			return true
		}
	}
	return false
}

// parseSquidTime reads Squid's "1796291144.330" (seconds, optional
// fraction).
func parseSquidTime(s string) (time.Time, bool) {
	sec, frac, _ := strings.Cut(s, ".")
	secs, ok := digits(sec, 11)
	if !ok {
		return time.Time{}, false
	}
	ns := int64(0)
	if frac != "" {
		f, ok := digits(frac, 9)
		if !ok {
			return time.Time{}, false
		}
		ns = f
		for i := len(frac); i < 9; i++ {
			ns *= 10
		}
	}
	return time.Unix(secs, ns).UTC(), true
}

// digits parses 1 to max decimal digits.
func digits(s string, max int) (int64, bool) {
	if s == "" || len(s) > max {
		return 0, false
	}
	n := int64(0)
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// OneLineName renders a DER distinguished name the way OpenSSL's
// X509_NAME_oneline does and Squid logs issuers: "/C=US/O=Org/CN=Name".
func OneLineName(rawName []byte) string {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(rawName, &seq); err != nil || len(rest) > 0 {
		return ""
	}
	var b strings.Builder
	for _, rdn := range seq {
		for _, atv := range rdn {
			b.WriteString("/" + attrShortName(atv.Type) + "=" + fmt.Sprint(atv.Value))
		}
	}
	return b.String()
}

// attrShortName is OpenSSL's short name of a name attribute.
func attrShortName(oid asn1.ObjectIdentifier) string {
	switch oid.String() {
	case "2.5.4.3":
		return "CN"
	case "2.5.4.6":
		return "C"
	case "2.5.4.7":
		return "L"
	case "2.5.4.8":
		return "ST"
	case "2.5.4.10":
		return "O"
	case "2.5.4.11":
		return "OU"
	case "2.5.4.5":
		return "serialNumber"
	case "1.2.840.113549.1.9.1":
		return "emailAddress"
	case "0.9.2342.19200300.100.1.25":
		return "DC"
	}
	return oid.String()
}
