package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/devices"
	"github.com/anchorwatch/anchorwatch/server/evidence"
	"github.com/anchorwatch/anchorwatch/server/store"
)

// deviceCountsTTL is how long the device counts behind the Prometheus
// gauges and GET /api/v1/devices/summary are reused: matching reads every
// observation, so a scrape every few seconds must not redo it each time.
// A write through this collector (observations, exemptions) drops them.
const deviceCountsTTL = 30 * time.Second

// deviceAPI serves the unmanaged-device endpoints over the device tables
// (server/devices), which it prepares on first use.
type deviceAPI struct {
	s *Server

	mu sync.Mutex // guards db, policySerial, prunedAt
	db *devices.DB
	// policySerial is the policy serial whose exemptions were imported
	// (or whose import failed: it is not retried until the next upload).
	policySerial int64
	prunedAt     time.Time

	cmu       sync.Mutex // guards the counts cache
	counts    devices.Counts
	countsAt  time.Time
	countsGen int64
	gen       atomic.Int64 // bumped by every write; a cache of another generation is stale
}

// deviceRoutes registers the device API and the device gauges.
func (s *Server) deviceRoutes(h func(pattern, route string, fn http.HandlerFunc)) {
	dv := &deviceAPI{s: s}
	s.dev = dv
	h("POST "+api.PathObservations, "observations", s.role(store.RoleAdmin, dv.handleObservations))
	h("GET "+api.PathDevices, "devices", s.role(store.RoleViewer, dv.handleDevices))
	h("GET "+api.PathDevicesSummary, "devices_summary", s.role(store.RoleViewer, dv.handleSummary))
	h("GET "+api.PathExemptions, "exemptions", s.role(store.RoleViewer, dv.handleExemptionList))
	h("POST "+api.PathExemptions, "exemptions", s.role(store.RoleAdmin, dv.handleExemptionAdd))
	h("DELETE "+api.PathExemptions, "exemptions", s.role(store.RoleAdmin, dv.handleExemptionRemove))
	gauge := func(name, help string, labels prometheus.Labels, v func(devices.Counts) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, func() float64 {
			c, err := dv.cachedCounts(context.Background())
			if err != nil {
				return math.NaN()
			}
			return float64(v(c))
		})
	}
	const help = "Devices seen on the network (proxy and DHCP evidence), by status: unmanaged (no enrolled agent accounts for it), exempt, managed."
	s.m.reg.MustRegister(
		gauge("anchorwatch_devices", help, prometheus.Labels{"status": string(api.DeviceUnmanaged)}, func(c devices.Counts) int64 { return c.Unmanaged }),
		gauge("anchorwatch_devices", help, prometheus.Labels{"status": string(api.DeviceExempt)}, func(c devices.Counts) int64 { return c.Exempt }),
		gauge("anchorwatch_devices", help, prometheus.Labels{"status": string(api.DeviceManaged)}, func(c devices.Counts) int64 { return c.Managed }),
		gauge("anchorwatch_unmanaged_devices_rejecting_ca", "Unmanaged devices the proxy saw refuse the interception certificate.",
			nil, func(c devices.Counts) int64 { return c.RejectsCA }),
	)
}

// open returns the device tables, creating them on first use, with the
// exemptions of the served policy imported.
func (dv *deviceAPI) open(ctx context.Context) (*devices.DB, error) {
	dv.mu.Lock()
	defer dv.mu.Unlock()
	if dv.db == nil {
		d, err := devices.Open(ctx, dv.s.st.DB(), dv.s.st.ReadDB(), devices.Dialect(dv.s.st.Dialect()))
		if err != nil {
			return nil, err
		}
		dv.db = d
	}
	if serial := dv.s.currentSerial(ctx); serial > 0 && serial != dv.policySerial {
		dv.policySerial = serial
		if err := dv.importPolicy(ctx); err != nil {
			dv.s.log.Warn("policy exemptions not imported; devices they name are listed as unmanaged", "serial", serial, "err", err)
		}
	}
	return dv.db, nil
}

// importUploaded imports the exemptions of a policy blob just stored by an
// upload, so that they apply at once rather than on the next device query.
func (dv *deviceAPI) importUploaded(ctx context.Context, serial int64, blob []byte) (devices.PolicyImport, error) {
	dv.mu.Lock()
	defer dv.mu.Unlock()
	if dv.db == nil {
		d, err := devices.Open(ctx, dv.s.st.DB(), dv.s.st.ReadDB(), devices.Dialect(dv.s.st.Dialect()))
		if err != nil {
			return devices.PolicyImport{Serial: serial}, err
		}
		dv.db = d
	}
	dv.policySerial = serial
	res, err := dv.db.ImportPolicy(ctx, serial, blob)
	if err != nil {
		return res, err
	}
	if !res.Unchanged {
		dv.s.log.Info("imported policy exemptions", "serial", res.Serial, "exemptions", res.Exemptions, "skipped", res.Skipped)
		dv.invalidate()
	}
	return res, nil
}

// importPolicy imports the exemptions of the served policy: the fallback
// for a policy stored by an older version, or straight into the database.
func (dv *deviceAPI) importPolicy(ctx context.Context) error {
	p, err := dv.s.st.CurrentPolicy(ctx)
	if err != nil {
		return err
	}
	res, err := dv.db.ImportPolicy(ctx, p.Serial, p.Blob)
	if err != nil {
		return err
	}
	if !res.Unchanged {
		dv.s.log.Info("imported policy exemptions", "serial", res.Serial, "exemptions", res.Exemptions, "skipped", res.Skipped)
		dv.invalidate()
	}
	return nil
}

// invalidate drops the cached counts after a write.
func (dv *deviceAPI) invalidate() { dv.gen.Add(1) }

// cachedCounts returns device counts at most deviceCountsTTL old.
func (dv *deviceAPI) cachedCounts(ctx context.Context) (devices.Counts, error) {
	dv.cmu.Lock()
	defer dv.cmu.Unlock()
	if !dv.countsAt.IsZero() && time.Since(dv.countsAt) < deviceCountsTTL && dv.countsGen == dv.gen.Load() {
		return dv.counts, nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	d, err := dv.open(ctx)
	if err != nil {
		dv.s.errs.failed(slog.LevelWarn, "count devices", err)
		return devices.Counts{}, err
	}
	gen, now := dv.gen.Load(), time.Now()
	c, err := d.Counts(ctx, now)
	if err != nil {
		dv.s.errs.failed(slog.LevelWarn, "count devices", err)
		return devices.Counts{}, err
	}
	dv.counts, dv.countsAt, dv.countsGen = c, now, gen
	return c, nil
}

func (dv *deviceAPI) handleSummary(w http.ResponseWriter, r *http.Request) {
	c, err := dv.cachedCounts(r.Context())
	if err != nil {
		dv.s.internal(w, "count devices", err)
		return
	}
	dv.cmu.Lock()
	at := dv.countsAt
	dv.cmu.Unlock()
	writeJSON(w, http.StatusOK, api.DeviceSummary{GeneratedAt: at.UTC(), Unmanaged: c.Unmanaged, Exempt: c.Exempt,
		Managed: c.Managed, UnmanagedRejectingCA: c.RejectsCA})
}

// deviceFilter reads the device list filters: status (unmanaged, exempt,
// managed, all; comma-separated), subnet, source, since, rejects_ca,
// cursor, limit, format.
func deviceFilter(q url.Values, now time.Time) (devices.Filter, error) {
	known := map[string]bool{"status": true, "subnet": true, "source": true, "since": true, "rejects_ca": true,
		"cursor": true, "limit": true, "format": true}
	for k := range q {
		if !known[k] {
			return devices.Filter{}, fmt.Errorf("unknown filter %q: use status, subnet, source, since, rejects_ca, cursor, limit or format", clip(k))
		}
	}
	f := devices.Filter{Now: now}
	if v := q.Get("status"); v != "" {
		for _, s := range strings.Split(v, ",") {
			switch s = strings.TrimSpace(s); s {
			case "all":
				f.Statuses = api.DeviceStatuses()
			case string(api.DeviceUnmanaged), string(api.DeviceExempt), string(api.DeviceManaged):
				f.Statuses = append(f.Statuses, api.DeviceStatus(s))
			default:
				return f, fmt.Errorf("status=%q: use unmanaged, exempt, managed or all (comma-separated for several)", clip(v))
			}
		}
	}
	if v := q.Get("subnet"); v != "" {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return f, fmt.Errorf("subnet=%q: use a CIDR prefix such as 10.20.0.0/16 or an address", clip(v))
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		f.Subnet = p.Masked()
	}
	if v := q.Get("source"); v != "" {
		if err := checkSource(v); err != nil {
			return f, fmt.Errorf("source=%q: %v", clip(v), err)
		}
		f.Source = v
	}
	if v := q.Get("since"); v != "" {
		// A time, or a duration back from now ("24h", "7d").
		t, err := parseTime("since", v)
		if err != nil {
			d, derr := parseDuration("since", v)
			if derr != nil {
				return f, fmt.Errorf("since=%q: use RFC 3339, Unix seconds or a duration such as 24h or 7d", clip(v))
			}
			t = now.Add(-d)
		}
		f.Since = t
	}
	if v := q.Get("rejects_ca"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, fmt.Errorf("rejects_ca=%q: use true or false", clip(v))
		}
		f.RejectsCA = b
	}
	return f, nil
}

func (dv *deviceAPI) handleDevices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := deviceFilter(q, time.Now())
	if err != nil {
		badRequest(w, err)
		return
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		badRequest(w, fmt.Errorf("format=%q: use json or csv", clip(format)))
		return
	}
	limit, err := parseLimit(q)
	if err != nil {
		badRequest(w, err)
		return
	}
	d, err := dv.open(r.Context())
	if err != nil {
		dv.s.internal(w, "open device tables", err)
		return
	}
	list, err := d.List(r.Context(), f)
	if err != nil {
		dv.s.internal(w, "list devices", err)
		return
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="anchorwatch-devices.csv"`)
		w.Header().Set("Cache-Control", "no-store")
		if err := devices.WriteCSV(w, list); err != nil {
			dv.s.log.Error("export devices", "err", err)
		}
		return
	}
	page, err := devices.Paginate(list, q.Get("cursor"), limit)
	if err != nil {
		badRequest(w, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// exemptionView is an exemption as the API lists it.
type exemptionView struct {
	devices.Exemption
	Active bool `json:"active"` // not expired
}

func (dv *deviceAPI) handleExemptionList(w http.ResponseWriter, r *http.Request) {
	d, err := dv.open(r.Context())
	if err != nil {
		dv.s.internal(w, "open device tables", err)
		return
	}
	list, err := d.Exemptions(r.Context())
	if err != nil {
		dv.s.internal(w, "list exemptions", err)
		return
	}
	now := time.Now()
	out := make([]exemptionView, 0, len(list))
	for _, e := range list {
		out = append(out, exemptionView{Exemption: e, Active: e.Active(now)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"exemptions": out})
}

// exemptionRequest is the body of POST /api/v1/exemptions.
type exemptionRequest struct {
	Kind      string    `json:"kind"`
	Value     string    `json:"value"`
	Reason    string    `json:"reason"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

func (dv *deviceAPI) handleExemptionAdd(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, 64<<10)
	if errors.Is(err, errTooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, api.ErrTooLarge, "exemption over 64 KiB")
		return
	}
	if err != nil {
		badRequest(w, err)
		return
	}
	var req exemptionRequest
	if err := decodeStrict(body, &req); err != nil {
		badRequest(w, err)
		return
	}
	d, err := dv.open(r.Context())
	if err != nil {
		dv.s.internal(w, "open device tables", err)
		return
	}
	e, err := d.AddExemption(r.Context(), devices.Exemption{Kind: req.Kind, Value: req.Value, Reason: req.Reason, ExpiresAt: req.ExpiresAt})
	if err != nil {
		if strings.HasPrefix(err.Error(), "devices:") {
			dv.s.internal(w, "add exemption", err)
			return
		}
		badRequest(w, err)
		return
	}
	dv.invalidate()
	id, _ := IdentityFrom(r.Context())
	dv.s.log.Info("exemption added", "kind", e.Kind, "value", e.Value, "reason", e.Reason, "by", id.Name)
	writeJSON(w, http.StatusCreated, exemptionView{Exemption: e, Active: e.Active(time.Now())})
}

func (dv *deviceAPI) handleExemptionRemove(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	kind, value := q.Get("kind"), q.Get("value")
	if kind == "" || value == "" {
		badRequest(w, errors.New("give the exemption as ?kind=subnet|mac|hostname&value=…"))
		return
	}
	d, err := dv.open(r.Context())
	if err != nil {
		dv.s.internal(w, "open device tables", err)
		return
	}
	ok, err := d.RemoveExemption(r.Context(), kind, value)
	if err != nil {
		if strings.HasPrefix(err.Error(), "devices:") {
			dv.s.internal(w, "remove exemption", err)
			return
		}
		badRequest(w, err)
		return
	}
	if !ok {
		writeError(w, http.StatusNotFound, api.ErrNotFound, fmt.Sprintf("no %s exemption %q", clip(kind), clip(value)))
		return
	}
	dv.invalidate()
	id, _ := IdentityFrom(r.Context())
	dv.s.log.Info("exemption removed", "kind", kind, "value", value, "by", id.Name)
	writeJSON(w, http.StatusOK, map[string]any{"removed": true})
}

// DecodeObservations decodes and validates a POST /api/v1/observations
// body into observations ready to store.
func DecodeObservations(body []byte, now time.Time) (string, []evidence.Observation, error) {
	var b api.ObservationBatch
	if err := decodeStrict(body, &b); err != nil {
		return "", nil, err
	}
	if b.BatchID == "" || len(b.BatchID) > api.MaxBatchIDLength {
		return "", nil, fmt.Errorf("batch_id: required, at most %d bytes (a fresh random id per batch; the same id when retrying it)", api.MaxBatchIDLength)
	}
	for _, c := range b.BatchID {
		if c < 0x21 || c > 0x7e {
			return "", nil, errors.New("batch_id: printable ASCII without spaces only")
		}
	}
	if len(b.Observations) == 0 {
		return "", nil, errors.New("observations: empty batch")
	}
	if len(b.Observations) > api.MaxObservations {
		return "", nil, fmt.Errorf("observations: %d in one batch, at most %d: split it", len(b.Observations), api.MaxObservations)
	}
	out := make([]evidence.Observation, len(b.Observations))
	for i, o := range b.Observations {
		ob, err := observation(o, now)
		if err != nil {
			return "", nil, fmt.Errorf("observations[%d].%v", i, err)
		}
		out[i] = ob
	}
	return b.BatchID, out, nil
}

// earliest bounds the times an observation may carry.
var earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func observation(o api.Observation, now time.Time) (evidence.Observation, error) {
	ob := evidence.Observation{Source: o.Source, Count: o.Count, Evidence: o.Evidence}
	if err := checkSource(o.Source); err != nil {
		return ob, fmt.Errorf("source: %v", err)
	}
	if o.IP != "" {
		a, err := netip.ParseAddr(o.IP)
		if err != nil || a.Zone() != "" {
			return ob, fmt.Errorf("ip: %q is not an IP address", clip(o.IP))
		}
		ob.IP = a.Unmap()
	}
	if o.MAC != "" {
		hw, err := net.ParseMAC(o.MAC)
		if err != nil || len(hw) != 6 {
			return ob, fmt.Errorf("mac: %q is not a MAC address (00:11:22:33:44:55)", clip(o.MAC))
		}
		ob.MAC = hw.String()
	}
	if o.Hostname != "" {
		h := strings.ToLower(strings.TrimSuffix(o.Hostname, "."))
		if len(h) == 0 || len(h) > 253 || strings.IndexFunc(h, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
			return ob, fmt.Errorf("hostname: %q is not a hostname", clip(o.Hostname))
		}
		ob.Hostname = h
	}
	if !ob.IP.IsValid() && ob.MAC == "" && ob.Hostname == "" {
		return ob, errors.New("ip: give at least one of ip, mac and hostname")
	}
	horizon := now.Add(24 * time.Hour)
	if o.SeenAt.IsZero() || o.SeenAt.Before(earliest) || o.SeenAt.After(horizon) {
		return ob, errors.New("seen_at: required, RFC 3339, not before 2000 nor more than a day ahead")
	}
	ob.Time, ob.Last = o.SeenAt.UTC(), o.SeenAt.UTC()
	if !o.LastSeen.IsZero() {
		if o.LastSeen.Before(o.SeenAt) || o.LastSeen.After(horizon) {
			return ob, errors.New("last_seen: before seen_at or more than a day ahead")
		}
		ob.Last = o.LastSeen.UTC()
	}
	if o.Count < 0 || o.Count > 1<<40 {
		return ob, errors.New("count: out of range")
	}
	if ob.Count == 0 {
		ob.Count = 1
	}
	if !o.LeaseEnd.IsZero() {
		if o.LeaseEnd.Before(earliest) || o.LeaseEnd.Year() > 9999 {
			return ob, errors.New("lease_end: out of range")
		}
		ob.LeaseEnd = o.LeaseEnd.UTC()
	}
	if len(o.Evidence) > 1024 || strings.IndexFunc(o.Evidence, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return ob, errors.New("evidence: at most 1024 printable characters")
	}
	return ob, nil
}

// checkSource accepts the evidence sources' names and names of one's own.
func checkSource(s string) error {
	if s == "" || len(s) > api.MaxSourceLength {
		return fmt.Errorf("required, at most %d bytes (e.g. squid-access, dhcpd, or a name of your own)", api.MaxSourceLength)
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._:-", c)) {
			return errors.New("letters, digits, '.', '_', ':' and '-' only")
		}
	}
	return nil
}

func (dv *deviceAPI) handleObservations(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, api.MaxBodyBytes)
	if errors.Is(err, errTooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, api.ErrTooLarge, fmt.Sprintf("batch over %d bytes: send fewer observations per batch", api.MaxBodyBytes))
		return
	}
	if err != nil {
		badRequest(w, err)
		return
	}
	id, obs, err := DecodeObservations(body, time.Now())
	if err != nil {
		badRequest(w, err)
		return
	}
	d, err := dv.open(r.Context())
	if err != nil {
		dv.s.internal(w, "open device tables", err)
		return
	}
	dup, err := d.AddBatch(r.Context(), id, obs)
	if err != nil {
		dv.s.internal(w, "store observations", err)
		return
	}
	resp := api.ObservationsResponse{BatchID: id, Duplicate: dup}
	if !dup {
		resp.Accepted = len(obs)
		dv.invalidate()
	}
	dv.prune(r.Context(), d)
	writeJSON(w, http.StatusOK, resp)
}

// prune forgets batch ids older than the report retention, at most hourly.
func (dv *deviceAPI) prune(ctx context.Context, d *devices.DB) {
	dv.mu.Lock()
	due := time.Since(dv.prunedAt) > time.Hour
	if due {
		dv.prunedAt = time.Now()
	}
	dv.mu.Unlock()
	if !due {
		return
	}
	if n, err := d.PruneBatches(ctx, time.Now().Add(-dv.s.cfg.ReportRetention)); err != nil {
		dv.s.errs.failed(slog.LevelWarn, "prune observation batch ids", err)
	} else if n > 0 {
		dv.s.log.Info("pruned observation batch ids", "count", n)
	}
}
