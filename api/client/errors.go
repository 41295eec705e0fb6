package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/anchorwatch/anchorwatch/api"
)

// APIError is a non-2xx answer to a request to the collector. Collector
// is true when the answer is the collector's own (its JSON ErrorResponse;
// Code and Detail come from it); otherwise something in front of the
// collector answered (a load balancer, reverse proxy or firewall), Code is
// empty and Detail shows the start of what it sent.
type APIError struct {
	Status    int
	Code      string // api.Err* code, from the collector's answer
	Detail    string
	Collector bool
	// RetryAfter is the wait the answer asked for (Retry-After), 0 if none.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	if !e.Collector {
		return fmt.Sprintf("HTTP %d from something in front of the collector (not its JSON error answer): %s", e.Status, e.Detail)
	}
	s := fmt.Sprintf("collector answered %d %s", e.Status, e.Code)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Said reports whether the collector itself answered with the error code.
func (e *APIError) Said(code string) bool { return e.Collector && e.Code == code }

// Transient reports whether the same request may succeed later: a 5xx or
// a 429 (too many requests).
func (e *APIError) Transient() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

// RefusedError is the collector's own refusal of a report as invalid in
// itself (api.Refused): sending it again can never succeed, so the report
// is dropped. Every other error, an HTML 403 or 404 from a proxy
// included, leaves the report spooled for another try.
type RefusedError struct{ *APIError }

func (e *RefusedError) Unwrap() error { return e.APIError }

// ErrBadAnswer is matched by a 2xx answer that does not decode as the
// endpoint's JSON (or is over the bound): sending again will not fix it.
var ErrBadAnswer = errors.New("bad answer")

// ErrNoPolicy is returned by Policy when the collector has none published.
var ErrNoPolicy = errors.New("the collector serves no policy yet")

// ErrNotModified is returned by Policy when the collector still serves
// the blob of the ETag given (304).
var ErrNotModified = errors.New("the collector's policy has not changed")

// ErrWaitUnsupported is returned by WaitPolicy when the collector has no
// policy wait endpoint (an older collector: 404): the agent fetches the
// policy at its heartbeat only.
var ErrWaitUnsupported = errors.New("the collector has no policy wait endpoint (" + api.PathPolicyWait + ")")

// apiError makes the APIError of a non-2xx answer. Only a JSON body that
// decodes as the collector's ErrorResponse is taken for the collector's
// word; anything else (an HTML error page) is described, not parsed.
func apiError(resp *http.Response, body []byte) *APIError {
	e := &APIError{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var er api.ErrorResponse
	if mt == api.ContentTypeJSON && json.Unmarshal(body, &er) == nil && er.Error != "" {
		e.Collector, e.Code, e.Detail = true, er.Error, er.Detail
		return e
	}
	if mt == "" {
		mt = "no content type"
	}
	e.Detail = fmt.Sprintf("%s (%s): %q", http.StatusText(resp.StatusCode), mt, snippet(body))
	return e
}

// snippet is the text at the start of a body, markup and spacing folded,
// for an error message.
func snippet(body []byte) string {
	var b strings.Builder
	space, inTag := false, false
	for _, r := range string(body[:min(len(body), 2048)]) {
		switch {
		case r == '<':
			inTag, space = true, b.Len() > 0
			continue
		case r == '>':
			inTag = false
			continue
		case inTag:
			continue
		case unicode.IsSpace(r) || !unicode.IsPrint(r):
			space = b.Len() > 0
			continue
		case space:
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
		if b.Len() >= 100 {
			break
		}
	}
	return b.String()
}

// retryAfter reads a Retry-After header in seconds (bounded to an hour).
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(min(n, 3600)) * time.Second
}
