package api

import "net/http"

// Events an agent writes about its own delivery and state.
const (
	// EventReportDropped: the agent dropped a report — the collector
	// refused it as invalid (Refused), its spool or journal overflowed, or
	// a spooled file was unreadable. Detail says why and how many events
	// went with it.
	EventReportDropped EventType = "report-dropped"
	// EventStateReset: the agent's state file was unreadable; Detail says
	// why and which drift baseline the agent went on with.
	EventStateReset EventType = "state-reset"
)

// ContentTypeJSON is the media type of every JSON body of the API,
// ErrorResponse included.
const ContentTypeJSON = "application/json"

// Refused reports whether an error answer of the collector — status and
// the Error code of its ErrorResponse — refuses a request as invalid in
// itself, so that sending the same request again can never succeed: 400
// bad_request (it does not decode or validate) and 413 too_large. An
// agent drops a report only on such an answer.
//
// It is for answers that are the collector's own: a JSON body (Content-
// Type application/json) that decodes as an ErrorResponse. A 4xx from
// anything in front of the collector (a load balancer, reverse proxy or
// firewall answering 403 or 404 with an HTML page during a rollout) is
// not a refusal of the report and must be retried.
func Refused(status int, code string) bool {
	return (status == http.StatusBadRequest && code == ErrBadRequest) ||
		(status == http.StatusRequestEntityTooLarge && code == ErrTooLarge)
}
