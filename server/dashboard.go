package server

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/store"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/inventory"
)

func badRequest(w http.ResponseWriter, err error) {
	writeError(w, http.StatusBadRequest, api.ErrBadRequest, err.Error())
}

func (s *Server) handleWhoAmI(w http.ResponseWriter, r *http.Request) {
	id, _ := IdentityFrom(r.Context())
	writeJSON(w, http.StatusOK, api.WhoAmI{Name: id.Name, Role: id.Role, CSRF: id.csrf})
}

// parseTime accepts RFC 3339 or Unix seconds.
func parseTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 && n < 1<<40 {
		return time.Unix(n, 0), nil
	}
	return time.Time{}, fmt.Errorf("%s=%q: use RFC 3339 (2025-01-02T15:04:05Z) or Unix seconds", name, clip(v))
}

// parseSince accepts what parseTime does, or a duration back from now
// (1h, 30m, 7d): since=1h is the last hour.
func parseSince(name, v string, now time.Time) (time.Time, error) {
	if t, err := parseTime(name, v); err == nil {
		return t, nil
	}
	if d, err := parseDuration(name, v); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%s=%q: use RFC 3339 (2025-01-02T15:04:05Z), Unix seconds or a duration back from now such as 1h or 7d", name, clip(v))
}

// parseDuration accepts Go durations plus a "d" suffix for days.
func parseDuration(name, v string) (time.Duration, error) {
	if strings.HasSuffix(v, "d") {
		n, err := strconv.Atoi(strings.TrimSuffix(v, "d"))
		if err == nil && n >= 0 && n < 100000 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return d, nil
	}
	return 0, fmt.Errorf("%s=%q: use a duration such as 30m, 24h or 7d", name, clip(v))
}

func parseLimit(q url.Values) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return 0, fmt.Errorf("limit=%q: use 1 to 1000", clip(v))
	}
	return n, nil
}

func (s *Server) handleSummary(w http.ResponseWriter, r *http.Request) {
	off := s.cfg.OfflineAfter
	if v := r.URL.Query().Get("offline_after"); v != "" {
		d, err := parseDuration("offline_after", v)
		if err != nil {
			badRequest(w, err)
			return
		}
		off = d
	}
	sum, err := s.st.SummaryWith(r.Context(), time.Now(), store.SummaryOptions{OfflineAfter: off, StaleAfter: s.cfg.StaleAfter})
	if err != nil {
		s.internal(w, "fleet summary", err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

// hostFilter reads the host list filters: status, os, hostname,
// store_kind, store_status, policy_serial, seen_before, seen_after,
// offline_after (a duration: hosts not seen for that long), stale (not
// seen for staleAfter), retired (false: active hosts, the default; true:
// retired ones; all), cursor, limit.
func hostFilter(q url.Values, staleAfter time.Duration) (store.HostFilter, error) {
	known := map[string]bool{"status": true, "os": true, "hostname": true, "store_kind": true, "store_status": true,
		"policy_serial": true, "seen_before": true, "seen_after": true, "offline_after": true, "cursor": true, "limit": true, "flagged": true,
		"stale": true, "retired": true}
	for k := range q {
		if !known[k] {
			return store.HostFilter{}, fmt.Errorf("unknown filter %q: use status, os, hostname, store_kind, store_status, policy_serial, flagged, stale, retired, seen_before, seen_after, offline_after, cursor or limit", clip(k))
		}
	}
	f := store.HostFilter{Status: api.HostStatus(q.Get("status")), OS: q.Get("os"), Hostname: q.Get("hostname"),
		StoreKind: stores.Kind(q.Get("store_kind")), StoreStatus: stores.Status(q.Get("store_status"))}
	for k, v := range map[string]string{"status": string(f.Status), "os": f.OS, "hostname": f.Hostname, "store_kind": string(f.StoreKind), "store_status": string(f.StoreStatus)} {
		if len(v) > 255 {
			return f, fmt.Errorf("%s: longer than 255 bytes", k)
		}
	}
	switch f.Status {
	case "", api.HostStatusPending, api.HostStatusCompliant, api.HostStatusNoncompliant, api.HostStatusError:
	default:
		return f, fmt.Errorf("status=%q: use pending, compliant, noncompliant or error", clip(string(f.Status)))
	}
	if f.StoreStatus != "" && !storeStatuses[f.StoreStatus] {
		return f, fmt.Errorf("store_status=%q: use one of %s", clip(string(f.StoreStatus)), storeStatusList)
	}
	switch v := q.Get("flagged"); v {
	case "", "false":
	case "true":
		f.Flagged = true
	default:
		return f, fmt.Errorf("flagged=%q: use true", clip(v))
	}
	if v := q.Get("policy_serial"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return f, fmt.Errorf("policy_serial=%q: not an integer", clip(v))
		}
		f.PolicySerial = &n
	}
	switch v := q.Get("retired"); v {
	case "", "false":
	case "true":
		f.Retired = store.RetiredOnly
	case "all":
		f.Retired = store.AnyRetired
	default:
		return f, fmt.Errorf("retired=%q: use true, false or all", clip(v))
	}
	var err error
	if f.SeenBefore, err = parseTime("seen_before", q.Get("seen_before")); err != nil {
		return f, err
	}
	if f.SeenAfter, err = parseTime("seen_after", q.Get("seen_after")); err != nil {
		return f, err
	}
	if v := q.Get("offline_after"); v != "" {
		d, err := parseDuration("offline_after", v)
		if err != nil {
			return f, err
		}
		f.SeenBefore = time.Now().Add(-d)
	}
	switch v := q.Get("stale"); v {
	case "", "false":
	case "true":
		if b := time.Now().Add(-staleAfter); f.SeenBefore.IsZero() || b.Before(f.SeenBefore) {
			f.SeenBefore = b
		}
	default:
		return f, fmt.Errorf("stale=%q: use true", clip(v))
	}
	if f.AfterID, err = store.ParseCursor(q.Get("cursor")); err != nil {
		return f, err
	}
	f.Limit, err = parseLimit(q)
	return f, err
}

func (s *Server) handleHosts(w http.ResponseWriter, r *http.Request) {
	f, err := hostFilter(r.URL.Query(), s.cfg.StaleAfter)
	if err != nil {
		badRequest(w, err)
		return
	}
	list, err := s.st.ListHosts(r.Context(), f)
	if err != nil {
		s.internal(w, "list hosts", err)
		return
	}
	for i := range list.Hosts {
		s.markStale(&list.Hosts[i])
	}
	writeJSON(w, http.StatusOK, list)
}

// csvSafe keeps a cell from being read as a formula by spreadsheets.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

func (s *Server) handleHostsCSV(w http.ResponseWriter, r *http.Request) {
	f, err := hostFilter(r.URL.Query(), s.cfg.StaleAfter)
	if err != nil {
		badRequest(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="anchorwatch-hosts.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write([]string{"id", "hostname", "machine_id", "os", "os_version", "arch", "agent_version", "status", "policy_serial",
		"stores_total", "stores_compliant", "unknown_roots", "blocked_roots", "enrolled_at", "last_seen", "last_report_at"})
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	err = s.st.EachHost(r.Context(), f, func(h api.HostSummary) error {
		return cw.Write([]string{i64(h.ID), csvSafe(h.Hostname), csvSafe(h.MachineID), csvSafe(h.OS), csvSafe(h.OSVersion), csvSafe(h.Arch),
			csvSafe(h.AgentVersion), string(h.Status), i64(h.PolicySerial), i64(h.StoresTotal), i64(h.StoresCompliant), i64(h.UnknownRoots),
			i64(h.BlockedRoots), ts(h.EnrolledAt), ts(h.LastSeen), ts(h.LastReportAt)})
	})
	cw.Flush()
	if err != nil {
		// Headers are gone; the truncated file ends with an error line.
		s.log.Error("export hosts", "err", err)
		fmt.Fprintf(w, "# export failed: see the collector log\n")
	}
}

func (s *Server) handleHost(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		badRequest(w, fmt.Errorf("host id %q: not a positive integer", clip(r.PathValue("id"))))
		return
	}
	n := 100
	if v := r.URL.Query().Get("events"); v != "" {
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 1000 {
			badRequest(w, fmt.Errorf("events=%q: use 1 to 1000", clip(v)))
			return
		}
	}
	h, err := s.st.Host(r.Context(), id, n)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, api.ErrNotFound, fmt.Sprintf("no host %d", id))
		return
	}
	if err != nil {
		s.internal(w, "read host", err)
		return
	}
	s.markStale(&h.HostSummary)
	writeJSON(w, http.StatusOK, h)
}

// markStale sets the Stale flag of an active host not seen for StaleAfter.
func (s *Server) markStale(h *api.HostSummary) {
	h.Stale = h.RetiredAt.IsZero() && h.LastSeen.Before(time.Now().Add(-s.cfg.StaleAfter))
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f store.EventFilter
	var err error
	now := time.Now()
	if f.Since, err = parseSince("since", q.Get("since"), now); err != nil {
		badRequest(w, err)
		return
	}
	if f.Until, err = parseSince("until", q.Get("until"), now); err != nil {
		badRequest(w, err)
		return
	}
	switch v := q.Get("order"); v {
	case "", "desc":
	case "asc":
		f.OldestFirst = true
	default:
		badRequest(w, fmt.Errorf("order=%q: use desc (newest first, the default) or asc", clip(v)))
		return
	}
	f.Type = q.Get("type")
	if f.Type != "" && !eventTypeRE.MatchString(f.Type) {
		badRequest(w, fmt.Errorf("type=%q: not an event type", clip(f.Type)))
		return
	}
	if v := q.Get("host_id"); v != "" {
		if f.HostID, err = strconv.ParseInt(v, 10, 64); err != nil {
			badRequest(w, fmt.Errorf("host_id=%q: not an integer", clip(v)))
			return
		}
	}
	f.Cursor = q.Get("cursor")
	if f.Limit, err = parseLimit(q); err != nil {
		badRequest(w, err)
		return
	}
	list, err := s.st.Events(r.Context(), f)
	if errors.Is(err, store.ErrBadCursor) {
		badRequest(w, err)
		return
	}
	if err != nil {
		s.internal(w, "list events", err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) handleCAs(w http.ResponseWriter, r *http.Request) {
	list, err := s.st.CAExpiry(r.Context())
	if err != nil {
		s.internal(w, "CA expiry", err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) handleRoots(w http.ResponseWriter, r *http.Request) {
	class := inventory.Class(r.URL.Query().Get("class"))
	if class != "" && class != inventory.Unknown && class != inventory.Blocked {
		badRequest(w, fmt.Errorf("class=%q: use %s or %s", clip(string(class)), inventory.Unknown, inventory.Blocked))
		return
	}
	limit, err := parseLimit(r.URL.Query())
	if err != nil {
		badRequest(w, err)
		return
	}
	list, err := s.st.Roots(r.Context(), class, limit)
	if err != nil {
		s.internal(w, "roots seen", err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) handleTrend(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	since := now.Add(-30 * 24 * time.Hour)
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := parseSince("since", v, now)
		if err != nil {
			badRequest(w, err)
			return
		}
		since = t
	}
	list, err := s.st.Trend(r.Context(), since, now)
	if err != nil {
		s.internal(w, "compliance trend", err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func credInfos(cs []store.Credential) []api.CredentialInfo {
	out := make([]api.CredentialInfo, 0, len(cs))
	for _, c := range cs {
		out = append(out, api.CredentialInfo{Name: c.Name, Role: c.Role, CreatedAt: c.CreatedAt, RevokedAt: c.RevokedAt})
	}
	return out
}

func (s *Server) handleSecretList(w http.ResponseWriter, r *http.Request) {
	cs, err := s.st.ListSecrets(r.Context())
	if err != nil {
		s.internal(w, "list secrets", err)
		return
	}
	writeJSON(w, http.StatusOK, credInfos(cs))
}

func (s *Server) readCreate(w http.ResponseWriter, r *http.Request) (*api.CredentialCreate, bool) {
	body, ok := s.readJSON(w, r)
	if !ok {
		return nil, false
	}
	var c api.CredentialCreate
	if err := decodeStrict(body, &c); err != nil {
		badRequest(w, err)
		return nil, false
	}
	if err := store.ValidName(c.Name); err != nil {
		badRequest(w, err)
		return nil, false
	}
	return &c, true
}

func (s *Server) handleSecretAdd(w http.ResponseWriter, r *http.Request) {
	c, ok := s.readCreate(w, r)
	if !ok {
		return
	}
	v, err := s.st.AddSecret(r.Context(), c.Name)
	if errors.Is(err, store.ErrExists) {
		writeError(w, http.StatusConflict, api.ErrBadRequest, err.Error())
		return
	}
	if err != nil {
		s.internal(w, "add enroll secret", err)
		return
	}
	writeJSON(w, http.StatusCreated, api.CredentialCreated{Name: c.Name, Value: v})
}

func (s *Server) handleSecretRevoke(w http.ResponseWriter, r *http.Request) {
	err := s.st.RevokeSecret(r.Context(), r.PathValue("name"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, api.ErrNotFound, err.Error())
		return
	}
	if err != nil {
		s.internal(w, "revoke enroll secret", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleTokenList(w http.ResponseWriter, r *http.Request) {
	cs, err := s.st.ListTokens(r.Context())
	if err != nil {
		s.internal(w, "list tokens", err)
		return
	}
	writeJSON(w, http.StatusOK, credInfos(cs))
}

func (s *Server) handleTokenAdd(w http.ResponseWriter, r *http.Request) {
	c, ok := s.readCreate(w, r)
	if !ok {
		return
	}
	if c.Role != store.RoleAdmin && c.Role != store.RoleViewer {
		badRequest(w, fmt.Errorf("role %q: use admin or viewer", clip(c.Role)))
		return
	}
	v, err := s.st.AddToken(r.Context(), c.Name, c.Role)
	if errors.Is(err, store.ErrExists) {
		writeError(w, http.StatusConflict, api.ErrBadRequest, err.Error())
		return
	}
	if err != nil {
		s.internal(w, "add API token", err)
		return
	}
	writeJSON(w, http.StatusCreated, api.CredentialCreated{Name: c.Name, Role: c.Role, Value: v})
}

func (s *Server) handleTokenRevoke(w http.ResponseWriter, r *http.Request) {
	err := s.st.RevokeToken(r.Context(), r.PathValue("name"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, api.ErrNotFound, err.Error())
		return
	}
	if err != nil {
		s.internal(w, "revoke API token", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
