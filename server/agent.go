package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/store"
	"github.com/anchorwatch/anchorwatch/server/throttle"
)

// NodeKeyHeader carries the node key on GET /api/v1/policy, besides
// "Authorization: Bearer <node key>" (POST bodies carry it as "node_key").
const NodeKeyHeader = "X-Anchorwatch-Node-Key"

func (s *Server) readJSON(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := readBody(w, r, api.MaxBodyBytes)
	if errors.Is(err, errTooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, api.ErrTooLarge, "request body over "+strconv.Itoa(api.MaxBodyBytes)+" bytes")
		return nil, false
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, api.ErrBadRequest, err.Error())
		return nil, false
	}
	return body, true
}

func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, ok := s.readJSON(w, r)
	if !ok {
		s.m.enrolls.WithLabelValues("rejected").Inc()
		return
	}
	s.busy <- struct{}{} // admission: at most 2×GOMAXPROCS decode at once
	req, err := DecodeEnroll(body)
	<-s.busy
	if err != nil {
		s.m.enrolls.WithLabelValues("rejected").Inc()
		writeError(w, http.StatusBadRequest, api.ErrBadRequest, err.Error())
		return
	}
	if req.EnrollSecret == "" {
		s.m.enrolls.WithLabelValues("secret_invalid").Inc()
		writeError(w, http.StatusUnauthorized, api.ErrSecretInvalid, "enroll_secret is required")
		return
	}
	// Guessing enroll secrets is throttled like guessing tokens.
	keys := throttle.Keys("enroll", throttle.Source(r, s.cfg.TrustedProxies), req.EnrollSecret)
	if wait := s.lim.Wait(start, keys...); wait > 0 {
		s.m.enrolls.WithLabelValues("throttled").Inc()
		w.Header().Set("Retry-After", throttle.RetryAfter(wait))
		writeError(w, http.StatusTooManyRequests, api.ErrTooMany, "too many failed enrollments from this address: retry in "+throttle.RetryAfter(wait)+"s")
		return
	}
	secretName, err := s.st.CheckSecret(r.Context(), req.EnrollSecret)
	if errors.Is(err, store.ErrNotFound) {
		s.lim.Fail(start, keys...)
		s.m.enrolls.WithLabelValues("secret_invalid").Inc()
		writeError(w, http.StatusUnauthorized, api.ErrSecretInvalid, "unknown or revoked enroll secret")
		return
	}
	if err != nil {
		s.internal(w, "check enroll secret", err)
		return
	}
	now := time.Now()
	hostKey, err := checkHostKey(req, now)
	if err != nil {
		s.m.enrolls.WithLabelValues("proof_invalid").Inc()
		writeError(w, http.StatusUnauthorized, api.ErrProofInvalid, err.Error())
		return
	}
	in := &store.EnrollIn{NodeKey: store.NewCredential(store.PrefixNodeKey), SecretName: secretName, Facts: req.Host, Now: now,
		HostKey: hostKey, CurrentNodeKey: req.NodeKey}
	if req.Proof != nil {
		in.Nonce, in.NonceExpires = req.Proof.Nonce, now.Add(2*api.EnrollProofWindow)
	}
	res := s.w.submit(r.Context(), &job{enroll: in})
	if res.err == nil && errors.Is(res.eo.Err, store.ErrProofReplayed) {
		s.m.enrolls.WithLabelValues("proof_invalid").Inc()
		writeError(w, http.StatusUnauthorized, api.ErrProofInvalid, res.eo.Err.Error())
		return
	}
	if res.err == nil {
		res.err = res.eo.Err
	}
	if res.err != nil {
		s.m.enrolls.WithLabelValues("error").Inc()
		s.internal(w, "enroll", res.err)
		return
	}
	result := "enrolled"
	switch {
	case res.eo.Reenrolled:
		result = "reenrolled"
	case res.eo.ConflictOf != 0:
		result = "flagged"
		s.log.Warn("enrollment flagged: machine id already enrolled, host key not proven", "host_id", res.eo.HostID,
			"conflict_of", res.eo.ConflictOf, "machine_id", req.Host.MachineID, "remote", r.RemoteAddr)
	}
	s.m.enrolls.WithLabelValues(result).Inc()
	s.m.ingest.WithLabelValues("enroll").Observe(time.Since(start).Seconds())
	writeJSON(w, http.StatusOK, api.EnrollResponse{NodeKey: in.NodeKey, HostID: res.eo.HostID, Conflict: res.eo.Conflict})
}

func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	body, ok := s.readJSON(w, r)
	if !ok {
		s.m.reports.WithLabelValues("", "rejected").Inc()
		return
	}
	s.busy <- struct{}{} // admission: at most 2×GOMAXPROCS decode at once
	req, err := DecodeReport(body)
	<-s.busy
	if err != nil {
		s.m.reports.WithLabelValues("", "rejected").Inc()
		writeError(w, http.StatusBadRequest, api.ErrBadRequest, err.Error())
		return
	}
	if req.NodeKey == "" || len(req.NodeKey) > 256 || !store.IsNodeKey(req.NodeKey) {
		s.m.reports.WithLabelValues(req.Kind, "node_invalid").Inc()
		writeError(w, http.StatusUnauthorized, api.ErrNodeInvalid, "node_key is missing or not a node key ("+store.PrefixNodeKey+"…): enroll first")
		return
	}
	res := s.w.submit(r.Context(), &job{report: &store.ReportIn{Report: req, Received: time.Now()}})
	if res.err == nil && errors.Is(res.ro.Err, store.ErrNotFound) {
		s.m.reports.WithLabelValues(req.Kind, "node_invalid").Inc()
		writeError(w, http.StatusUnauthorized, api.ErrNodeInvalid, "unknown or revoked node key: enroll again")
		return
	}
	if res.err == nil {
		res.err = res.ro.Err
	}
	if res.err != nil {
		s.m.reports.WithLabelValues(req.Kind, "error").Inc()
		s.internal(w, "store report", res.err)
		return
	}
	result := "stored"
	if res.ro.Duplicate {
		result = "duplicate"
	}
	s.m.reports.WithLabelValues(req.Kind, result).Inc()
	s.m.ingest.WithLabelValues(req.Kind).Observe(time.Since(start).Seconds())
	s.pub.noteReport(req.Kind, req.PolicySerial) // paces policy wake-ups (policywait.go)
	writeJSON(w, http.StatusOK, api.ReportResponse{Status: "ok", Duplicate: res.ro.Duplicate, NeedFull: res.ro.NeedFull,
		PolicySerial: s.currentSerial(r.Context())})
}

// RetryAfter is the Retry-After (seconds) of a 503: the collector is
// stopping, or its database cannot commit or answer for now.
const RetryAfter = "5"

// internal answers a failure that is not the client's: 503 with
// Retry-After when the collector is stopping or its database is
// unavailable (full disk, I/O error, lost connection: the client sends
// the same request again and nothing is lost), 500 otherwise. The cause
// is logged (repeated ones once per interval, with a count), not sent.
func (s *Server) internal(w http.ResponseWriter, what string, err error) {
	if errors.Is(err, errClosed) {
		w.Header().Set("Retry-After", RetryAfter)
		writeError(w, http.StatusServiceUnavailable, api.ErrUnavailable, "collector is shutting down: retry")
		return
	}
	if store.IsUnavailable(err) {
		s.errs.failed(slog.LevelWarn, what+" failed: database unavailable", err)
		w.Header().Set("Retry-After", RetryAfter)
		writeError(w, http.StatusServiceUnavailable, api.ErrUnavailable, what+" failed: the collector's database is unavailable; retry later")
		return
	}
	s.errs.failed(slog.LevelError, what+" failed", err)
	writeError(w, http.StatusInternalServerError, api.ErrInternal, what+" failed; see the collector log")
}

// handlePolicyGet serves the signed policy to a node key (Authorization:
// Bearer <node key>, as the agent sends it, or the X-Anchorwatch-Node-Key
// header) or to a dashboard token (Authorization: Bearer <token>). The two
// are told apart by their prefix, and each is checked only against its own
// table, so neither can stand in for the other.
func (s *Server) handlePolicyGet(w http.ResponseWriter, r *http.Request) {
	if key := r.Header.Get(NodeKeyHeader); key != "" {
		s.servePolicyToNode(w, r, key)
		return
	}
	if key := bearer(r); store.IsNodeKey(key) {
		s.servePolicyToNode(w, r, key)
		return
	}
	s.role(store.RoleViewer, s.servePolicy)(w, r)
}

// handlePolicyPost is the osquery-style form: {"node_key": "…"} in the body.
func (s *Server) handlePolicyPost(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readJSON(w, r)
	if !ok {
		return
	}
	var req struct {
		NodeKey string `json:"node_key"`
	}
	if err := decodeStrict(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, api.ErrBadRequest, err.Error())
		return
	}
	s.servePolicyToNode(w, r, req.NodeKey)
}

func (s *Server) servePolicyToNode(w http.ResponseWriter, r *http.Request, key string) {
	if s.checkNode(w, r, key) {
		s.servePolicy(w, r)
	}
}

// checkNode answers 401 (or 503) and false unless key is a node key the
// database holds.
func (s *Server) checkNode(w http.ResponseWriter, r *http.Request, key string) bool {
	if key == "" || len(key) > 256 {
		writeError(w, http.StatusUnauthorized, api.ErrNodeInvalid, "node_key is required: enroll first")
		return false
	}
	if !store.IsNodeKey(key) {
		writeError(w, http.StatusUnauthorized, api.ErrNodeInvalid, "not a node key (they start with "+store.PrefixNodeKey+"): enroll first")
		return false
	}
	if _, err := s.st.CheckNodeKey(r.Context(), key); errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusUnauthorized, api.ErrNodeInvalid, "unknown or revoked node key: enroll again")
		return false
	} else if err != nil {
		s.internal(w, "check node key", err)
		return false
	}
	return true
}

func (s *Server) servePolicy(w http.ResponseWriter, r *http.Request) {
	p, err := s.st.CurrentPolicy(r.Context())
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, api.ErrNotFound, "no policy uploaded yet: anchorwatch collector policy upload FILE")
		return
	}
	if err != nil {
		s.internal(w, "read policy", err)
		return
	}
	etag := `"` + p.SHA256 + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("X-Anchorwatch-Policy-Serial", strconv.FormatInt(p.Serial, 10))
	w.Header().Set("Cache-Control", "no-cache")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/pkcs7-mime")
	w.Header().Set("Content-Length", strconv.Itoa(len(p.Blob)))
	w.WriteHeader(http.StatusOK)
	w.Write(p.Blob)
}

// handlePolicyPut publishes a signed policy blob (admin token). The body
// is the blob itself (DER or PEM PKCS#7), at most 4 MiB. A blob refused
// for itself is 400 with the reason, a serial not above the served one 409,
// a database outage 503 and anything else 500 (the detail only logged).
func (s *Server) handlePolicyPut(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, api.MaxBodyBytes)
	if errors.Is(err, errTooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, api.ErrTooLarge, "policy over 4 MiB")
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, api.ErrBadRequest, err.Error())
		return
	}
	up, err := CheckPolicyUpload(body, time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, api.ErrBadRequest, err.Error()) // a *PolicyError: about the blob only
		return
	}
	pub, err := PublishPolicy(r.Context(), s.st, up, s.dev.importUploaded)
	switch {
	case errors.Is(err, store.ErrStaleSerial):
		writeError(w, http.StatusConflict, api.ErrBadRequest, fmt.Sprintf(
			"policy serial %d is not greater than the served serial: agents would reject it; bump the serial and sign again", pub.Serial))
		return
	case err != nil:
		s.internal(w, "store policy", err)
		return
	}
	s.serialAt.Store(0)
	s.pub.publish(pub.Serial) // wakes this collector's waiters at once (policywait.go)
	out := map[string]any{"status": "ok", "serial": pub.Serial}
	if up.Warning != "" {
		out["warning"] = up.Warning
	}
	// Its device exemptions apply at once. The policy is stored either
	// way: a failed import is reported, and retried on the next upload.
	if pub.ExemptionsErr != nil {
		s.log.Warn("policy exemptions not imported; devices they name are listed as unmanaged", "serial", pub.Serial, "err", pub.ExemptionsErr)
		out["exemptions_error"] = "device exemptions not imported (see the collector log); they are imported again on the next upload"
	} else {
		out["exemptions"], out["exemptions_skipped"] = pub.Exemptions.Exemptions, pub.Exemptions.Skipped
	}
	writeJSON(w, http.StatusOK, out)
}
