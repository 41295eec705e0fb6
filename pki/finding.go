package pki

import (
	"crypto/x509"
	"sort"
	"time"

	"github.com/anchorwatch/anchorwatch/stores"
)

// Severity ranks a finding.
type Severity string

// Severities, worst first. Error and Warn make a check fail (exit status
// 1); Info is advice and a record of what passed.
const (
	SevError Severity = "error"
	SevWarn  Severity = "warn"
	SevInfo  Severity = "info"
)

func (s Severity) rank() int {
	switch s {
	case SevError:
		return 3
	case SevWarn:
		return 2
	case SevInfo:
		return 1
	}
	return 0
}

// Fails reports whether a finding of this severity fails the check.
func (s Severity) Fails() bool { return s == SevError || s == SevWarn }

// Finding is one thing a check found.
type Finding struct {
	// Check is a stable identifier, e.g. "crl-expired", "ocsp-revoked",
	// "pathlen-missing", or "zlint:<lint name>".
	Check    string   `json:"check"`
	Severity Severity `json:"severity"`
	// Subject is what the finding is about: "CA", "leaf", or a URL.
	Subject string `json:"subject"`
	Message string `json:"message"`
	// Fix says what to do; empty for a pass.
	Fix string `json:"fix,omitempty"`
}

// CertInfo names a certificate in a report.
type CertInfo struct {
	SHA256   string    `json:"sha256"`
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"not_after"`
	DaysLeft int       `json:"days_left"`
}

// Info describes c as of now.
func Info(c *x509.Certificate, now time.Time) CertInfo {
	return CertInfo{SHA256: stores.SHA256(c), Subject: c.Subject.String(), Issuer: c.Issuer.String(),
		NotAfter: c.NotAfter.UTC(), DaysLeft: daysLeft(c.NotAfter, now)}
}

func daysLeft(t, now time.Time) int {
	d := t.Sub(now)
	if d < 0 {
		return -int((-d).Hours()/24) - 1
	}
	return int(d.Hours() / 24)
}

// CRLResult is what one distribution point served.
type CRLResult struct {
	URL string `json:"url"`
	// For is the certificate the CRL speaks about: "CA" or "leaf".
	For        string    `json:"for"`
	OK         bool      `json:"ok"`
	ThisUpdate time.Time `json:"this_update,omitzero"`
	NextUpdate time.Time `json:"next_update,omitzero"`
	// SecondsLeft is the time left until NextUpdate (negative: lapsed).
	SecondsLeft float64 `json:"seconds_left,omitempty"`
	Entries     int     `json:"entries"`
	Revoked     bool    `json:"revoked,omitempty"`
	Error       string  `json:"error,omitempty"`
	Millis      int64   `json:"millis"`
}

// OCSP statuses in OCSPResult.Status, beside the RFC 6960 response
// statuses ("unauthorized", "tryLater", …) for unsuccessful answers.
const (
	OCSPGood        = "good"
	OCSPRevoked     = "revoked"
	OCSPUnknown     = "unknown"
	OCSPUnreachable = "unreachable" // no answer at all
	OCSPInvalid     = "invalid"     // an answer that does not parse or verify
)

// OCSPResult is what one responder answered.
type OCSPResult struct {
	URL        string    `json:"url"`
	For        string    `json:"for"`
	Status     string    `json:"status"`
	ThisUpdate time.Time `json:"this_update,omitzero"`
	NextUpdate time.Time `json:"next_update,omitzero"`
	ProducedAt time.Time `json:"produced_at,omitzero"`
	Error      string    `json:"error,omitempty"`
	Millis     int64     `json:"millis"`
}

// Report is the result of Check for one CA.
type Report struct {
	CA        CertInfo     `json:"ca"`
	Role      Role         `json:"role"`
	Issuer    *CertInfo    `json:"issuer,omitempty"`
	Leaf      *CertInfo    `json:"leaf,omitempty"`
	CheckedAt time.Time    `json:"checked_at"`
	Findings  []Finding    `json:"findings"`
	CRLs      []CRLResult  `json:"crls,omitempty"`
	OCSP      []OCSPResult `json:"ocsp,omitempty"`
}

// Worst returns the most severe finding's severity ("" when none).
func (r *Report) Worst() Severity {
	return worst(r.Findings)
}

func worst(fs []Finding) Severity {
	var w Severity
	for _, f := range fs {
		if f.Severity.rank() > w.rank() {
			w = f.Severity
		}
	}
	return w
}

// Failed reports whether any finding fails the check (error or warn).
func (r *Report) Failed() bool { return r.Worst().Fails() }

// Count returns how many findings have severity s.
func (r *Report) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// sortFindings orders findings worst first, then by subject and check,
// so reports compare and read the same every run.
func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity.rank() != b.Severity.rank() {
			return a.Severity.rank() > b.Severity.rank()
		}
		if a.Subject != b.Subject {
			return a.Subject < b.Subject
		}
		return a.Check < b.Check
	})
}
