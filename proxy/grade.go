package proxy

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/anchorwatch/anchorwatch/policy"
)

// Outcome is what the client behind the proxy got for one origin.
type Outcome string

// Outcomes.
const (
	// Blocked: the proxy refused the CONNECT, broke off the handshake or
	// answered with its own error page.
	Blocked Outcome = "blocked"
	// PassedThrough: the client got a certificate it rejects — the
	// origin's own, spliced through, or one the proxy made that carries
	// the error (an untrusted signer, the origin's dates or names).
	PassedThrough Outcome = "passed-through-error"
	// Resigned: the client got a valid certificate from the interception
	// CA and the origin's content: it cannot tell anything was wrong.
	Resigned Outcome = "re-signed-as-valid"
	// NotIntercepted: the origin's own certificate reached the client
	// (the proxy spliced the connection): the client judges it itself.
	NotIntercepted Outcome = "not-intercepted"
	// NotRun: the grader could not play this origin here.
	NotRun Outcome = "not-run"
)

// Probe is what the grader saw through the proxy for one origin.
type Probe struct {
	ConnectStatus int    // HTTP status of the CONNECT; 0 if none came
	ConnectErr    string // the CONNECT failed (connection, timeout)
	HandshakeErr  string // the TLS handshake with the proxy failed
	Chain         []*x509.Certificate
	HTTPStatus    int  // status of the GET inside the tunnel; 0 if none
	Marker        bool // the origin's content (with this run's nonce) came back
	ReadErr       string
	NotRun        string // why the origin could not be played
}

// Classify decides the outcome of a probe of the origin for host: leaf is
// the certificate the origin serves; ica is the interception CA. The
// detail says what the client saw. A nil ica (unknown) makes every
// certificate one the client rejects.
func Classify(p Probe, host string, leaf, ica *x509.Certificate, now time.Time) (Outcome, string) {
	switch {
	case p.NotRun != "":
		return NotRun, p.NotRun
	case p.ConnectErr != "":
		return Blocked, "CONNECT failed: " + p.ConnectErr
	case p.ConnectStatus != 200:
		return Blocked, fmt.Sprintf("the proxy answered the CONNECT with HTTP %d", p.ConnectStatus)
	case p.HandshakeErr != "":
		return Blocked, "the TLS handshake with the proxy failed: " + p.HandshakeErr
	case len(p.Chain) == 0:
		return Blocked, "the proxy sent no certificate"
	}
	got := p.Chain[0]
	if leaf != nil && bytes.Equal(got.Raw, leaf.Raw) {
		return NotIntercepted, "the origin's own certificate reached the client unmodified (spliced): the client's own checks apply"
	}
	if err := verifyIntercepted(p.Chain, host, ica, now); err != nil {
		return PassedThrough, fmt.Sprintf("the client gets a certificate it rejects (issuer %q): %v", got.Issuer.String(), err)
	}
	if !p.Marker {
		return Blocked, fmt.Sprintf("valid interception certificate, but the proxy answered HTTP %d instead of the site%s", p.HTTPStatus, suffix(p.ReadErr))
	}
	return Resigned, fmt.Sprintf("valid certificate from %q and the site's content", got.Issuer.String())
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// verifyIntercepted checks the chain the client got as a client trusting
// only the interception CA would.
func verifyIntercepted(chain []*x509.Certificate, host string, ica *x509.Certificate, now time.Time) error {
	if ica == nil {
		return errors.New("the interception CA is not known")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ica)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err
}

// Result is the verdict on one check.
type Result struct {
	Check
	Host    string  `json:"host"`
	Outcome Outcome `json:"outcome"`
	Detail  string  `json:"detail"`
	Pass    bool    `json:"pass"`
	// Grade is the check's grade when it fails (zero when it passes).
	Grade Grade `json:"grade,omitempty"`
	// Upstream is what the origin negotiated with the proxy, when the
	// proxy completed a handshake with it ("TLS 1.0 TLS_RSA_WITH_…").
	Upstream string `json:"upstream,omitempty"`
	// Advice says what to change when the check fails.
	Advice string `json:"advice,omitempty"`
}

// Judge turns an outcome into a verdict: a flawed origin passes when the
// user sees an error (blocked or passed through), a sound one when the
// user gets the site. A spliced connection passes either way: the client
// judges the origin itself (the baseline still needs interception, see
// Report.Finish).
func Judge(c Check, o Outcome) (pass bool) {
	switch o {
	case NotRun, NotIntercepted:
		return true
	case Resigned:
		return !c.Bad
	}
	return c.Bad
}

// Report is the report card of one grading run.
type Report struct {
	Proxy string `json:"proxy"`
	// InterceptionCA is the subject of the CA the proxy signs with.
	InterceptionCA string    `json:"interception_ca"`
	Grade          Grade     `json:"grade"`
	Failing        []string  `json:"failing,omitempty"` // IDs of failing checks, worst first
	Results        []Result  `json:"results"`
	Upstream       *Upstream `json:"upstream,omitempty"`
	Started        time.Time `json:"started"`
	Duration       string    `json:"duration"`
}

// Upstream is what the proxy offers the origins it connects to.
type Upstream struct {
	HelloGrade
	ServerName string `json:"server_name"`
}

// ErrBaseline is returned when the sound baseline origin does not come
// through the proxy as a valid site: nothing else can be graded then.
var ErrBaseline = errors.New("the baseline check failed")

// Finish grades a run: the worst grade of every failing check and of what
// the proxy offers upstream. It returns ErrBaseline (with the report
// filled in) when the valid baseline did not come through re-signed.
func (r *Report) Finish() error {
	r.Grade, r.Failing = GradeA, nil
	var base *Result
	for i := range r.Results {
		res := &r.Results[i]
		res.Pass = Judge(res.Check, res.Outcome)
		res.Grade, res.Advice = 0, ""
		if res.ID == CheckValid {
			base = res
		}
		if !res.Pass {
			res.Grade, res.Advice = res.FailGrade, res.Fix
			r.Grade = r.Grade.Worse(res.Grade)
			r.Failing = append(r.Failing, res.ID)
		}
	}
	if r.Upstream != nil {
		r.Grade = r.Grade.Worse(r.Upstream.Grade)
	}
	sort.SliceStable(r.Failing, func(i, j int) bool { return r.gradeOf(r.Failing[i]) > r.gradeOf(r.Failing[j]) })
	if base == nil || base.Outcome != Resigned {
		r.Grade = 0
		what := "missing"
		if base != nil {
			what = string(base.Outcome) + ": " + base.Detail
		}
		return fmt.Errorf("%w (%s): %s", ErrBaseline, what, checkFix(CheckValid))
	}
	return nil
}

func (r *Report) gradeOf(id string) Grade {
	for _, res := range r.Results {
		if res.ID == id {
			return res.Grade
		}
	}
	return 0
}

func checkFix(id string) string {
	c, _ := CheckByID(id)
	return c.Fix
}

// parseOneCert parses exactly one PEM certificate.
func parseOneCert(data []byte) (*x509.Certificate, error) {
	certs, err := policy.ParseCAs(data)
	if err != nil {
		return nil, err
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("want one certificate, found %d", len(certs))
	}
	return certs[0], nil
}
