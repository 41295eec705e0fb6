package server

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/pki"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/server/db"
	"github.com/anchorwatch/anchorwatch/stores"
)

// PKI health (docs/pki-health.md): the collector checks every CA of the
// served policy on a schedule (lint, CRLs, OCSP) and keeps the reports
// in the database; agents report whether they can reach each CDP and
// responder, and the collector shows which subnets cannot.

// DefaultPKIProbeInterval is how often the CAs are checked when
// Config.PKIProbeInterval is 0.
const DefaultPKIProbeInterval = 15 * time.Minute

// pkiPolicyPoll is how often the probe looks for a new policy serial
// between rounds (a new policy is checked at once).
const pkiPolicyPoll = 30 * time.Second

// pkiParallel bounds the CAs checked at once.
const pkiParallel = 4

// pkiHealth is the collector's PKI health state: the probe loop and the
// group commit of reachability reports.
type pkiHealth struct {
	s        *Server
	fetcher  *pki.Fetcher
	interval time.Duration

	mu      sync.Mutex // guards pending, waiters
	pending map[int64]db.ReachIn
	waiters []chan error
	kick    chan struct{}
}

// startPKI registers the PKI routes and metrics and starts the probe and
// the reachability writer.
func (s *Server) startPKI(h func(pattern, route string, fn http.HandlerFunc)) {
	p := &pkiHealth{s: s, fetcher: &pki.Fetcher{Client: pki.NewClient(), UserAgent: "anchorwatch-collector"},
		interval: s.cfg.PKIProbeInterval, pending: map[int64]db.ReachIn{}, kick: make(chan struct{}, 1)}
	if p.interval == 0 {
		p.interval = DefaultPKIProbeInterval
	}
	h("POST "+api.PathReach, "reach", p.handleReach)
	h("GET "+api.PathPKI, "pki", s.role(db.RoleViewer, p.handleChecks))
	h("GET "+api.PathPKIReach, "pki_reach", s.role(db.RoleViewer, p.handleReachView))
	s.m.reg.MustRegister(&pkiCollector{st: s.st})
	s.bg.Add(2)
	go p.reachWriter()
	go p.probeLoop()
}

// probeLoop checks every CA of the served policy each interval (with
// ±10% jitter, so collectors started together do not probe together)
// and at once when the served policy changes.
func (p *pkiHealth) probeLoop() {
	defer p.s.bg.Done()
	if p.interval < 0 {
		return
	}
	var lastSerial int64 = -1
	next := time.Now()
	poll := time.NewTicker(min(pkiPolicyPoll, p.interval))
	defer poll.Stop()
	for {
		serial := p.s.currentSerial(context.Background())
		if serial != lastSerial || !time.Now().Before(next) {
			lastSerial = serial
			p.probe()
			next = time.Now().Add(jittered(p.interval))
		}
		select {
		case <-p.s.stop:
			return
		case <-poll.C:
		}
	}
}

// jittered returns d ±10%.
func jittered(d time.Duration) time.Duration {
	var b [8]byte
	rand.Read(b[:])
	f := float64(binary.LittleEndian.Uint64(b[:])%2001)/10000 - 0.1
	return d + time.Duration(f*float64(d))
}

// probe runs one round: check every active CA of the served policy and
// store the reports (an empty round clears them).
func (p *pkiHealth) probe() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	go func() {
		select {
		case <-p.s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	cas, err := p.policyCAs(ctx)
	if err != nil {
		p.s.errs.failed(slog.LevelWarn, "PKI health: cannot read the served policy's CAs", err)
		return
	}
	reports := checkCAs(ctx, cas, pki.Options{Fetcher: p.fetcher})
	if ctx.Err() != nil {
		return
	}
	if err := p.s.st.PutPKIChecks(ctx, reports); err != nil {
		p.s.errs.failed(slog.LevelError, "PKI health: store the checks", err)
		return
	}
	p.s.log.Debug("PKI health: checked the policy's CAs", "cas", len(reports))
}

// policyCAs returns the CAs of the served policy that are in force now;
// none when no policy is served.
func (p *pkiHealth) policyCAs(ctx context.Context) ([]*x509.Certificate, error) {
	cur, err := p.s.st.CurrentPolicy(ctx)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	content, _, err := policy.Content(cur.Blob)
	if err != nil {
		return nil, err
	}
	doc, err := policy.Parse(content)
	if err != nil {
		return nil, err
	}
	return doc.ActiveCAs(time.Now()), nil
}

// checkCAs checks cas as the collector's probe does: roles and issuers
// from the set itself, a few CAs at once. The reports keep the order of
// cas.
func checkCAs(ctx context.Context, cas []*x509.Certificate, o pki.Options) []pki.Report {
	targets := pki.Targets(cas, nil)
	out := make([]pki.Report, len(targets))
	sem := make(chan struct{}, pkiParallel)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = *pki.Check(ctx, t, o)
		}()
	}
	wg.Wait()
	return out
}

func (p *pkiHealth) handleChecks(w http.ResponseWriter, r *http.Request) {
	checks, err := p.s.st.PKIChecks(r.Context())
	if err != nil {
		p.s.internal(w, "PKI checks", err)
		return
	}
	if checks == nil {
		checks = []pki.Report{}
	}
	writeJSON(w, http.StatusOK, api.PKICheckList{GeneratedAt: time.Now().UTC(), PolicySerial: p.s.currentSerial(r.Context()), Checks: checks})
}

// handleReach stores a host's reachability report: node key in the body,
// acknowledged once committed (reports that arrive together are written
// in one transaction).
func (p *pkiHealth) handleReach(w http.ResponseWriter, r *http.Request) {
	body, ok := p.s.readJSON(w, r)
	if !ok {
		return
	}
	req, err := DecodeReach(body)
	if err != nil {
		badRequest(w, err)
		return
	}
	if !db.IsNodeKey(req.NodeKey) || len(req.NodeKey) > 256 {
		writeError(w, http.StatusUnauthorized, api.ErrNodeInvalid, "node_key is missing or not a node key ("+db.PrefixNodeKey+"…): enroll first")
		return
	}
	id, err := p.s.st.CheckNodeKey(r.Context(), req.NodeKey)
	if errors.Is(err, db.ErrNotFound) {
		writeError(w, http.StatusUnauthorized, api.ErrNodeInvalid, "unknown or revoked node key: enroll again")
		return
	}
	if err != nil {
		p.s.internal(w, "check node key", err)
		return
	}
	if err := p.submitReach(r.Context(), db.ReachIn{HostID: id, Results: req.Results, Received: time.Now()}); err != nil {
		p.s.internal(w, "store reachability", err)
		return
	}
	writeJSON(w, http.StatusOK, api.ReachResponse{Status: "ok"})
}

// submitReach queues in (a host's newer report replaces a queued older
// one) and waits for the commit that holds it.
func (p *pkiHealth) submitReach(ctx context.Context, in db.ReachIn) error {
	done := make(chan error, 1)
	p.mu.Lock()
	p.pending[in.HostID] = in
	p.waiters = append(p.waiters, done)
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
	select {
	case err := <-done:
		return err
	case <-p.s.stop:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reachWriter commits queued reachability reports, all that queued
// during the previous commit in the next one.
func (p *pkiHealth) reachWriter() {
	defer p.s.bg.Done()
	for {
		select {
		case <-p.s.stop:
			return
		case <-p.kick:
		}
		p.mu.Lock()
		batch := make([]db.ReachIn, 0, len(p.pending))
		for _, in := range p.pending {
			batch = append(batch, in)
		}
		waiters := p.waiters
		p.pending, p.waiters = map[int64]db.ReachIn{}, nil
		p.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := p.s.st.PutReach(ctx, batch)
		cancel()
		if err != nil {
			p.s.errs.failed(slog.LevelError, "store reachability", err)
		}
		for _, w := range waiters {
			w <- err
		}
	}
}

// DecodeReach decodes and validates a reachability report body (what
// POST /api/v1/reach runs, and what the fuzz target feeds).
func DecodeReach(body []byte) (*api.ReachReport, error) {
	var r api.ReachReport
	if err := decodeStrict(body, &r); err != nil {
		return nil, err
	}
	if len(r.Results) > api.MaxReachResults {
		return nil, fmt.Errorf("results: %d, more than %d", len(r.Results), api.MaxReachResults)
	}
	seen := map[string]bool{}
	for i, e := range r.Results {
		f := fmt.Sprintf("results[%d]", i)
		if e.Kind != pki.KindCRL && e.Kind != pki.KindOCSP {
			return nil, fmt.Errorf("%s.kind %q: use %q or %q", f, clip(e.Kind), pki.KindCRL, pki.KindOCSP)
		}
		if len(e.URL) > 2048 {
			return nil, fmt.Errorf("%s.url: longer than 2048 bytes", f)
		}
		if u, err := url.Parse(e.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%s.url %q: not an http(s) URL", f, clip(e.URL))
		}
		if fp, ok := stores.NormalizeSHA256(e.CA); e.CA != "" && (!ok || fp != e.CA) {
			return nil, fmt.Errorf("%s.ca_sha256: not a lowercase hex SHA-256", f)
		}
		if err := checkString(f+".detail", e.Detail); err != nil {
			return nil, err
		}
		if e.Millis < 0 || e.Millis > 24*3600*1000 {
			return nil, fmt.Errorf("%s.millis: out of range", f)
		}
		if seen[e.Kind+" "+e.URL] {
			return nil, fmt.Errorf("%s: %s %q listed twice", f, e.Kind, clip(e.URL))
		}
		seen[e.Kind+" "+e.URL] = true
	}
	return &r, nil
}

// handleReachView answers which subnets cannot reach each endpoint:
// ?since= (a duration, default 2d: older reports are left out),
// ?v4_prefix= (default 24), ?v6_prefix= (default 64).
func (p *pkiHealth) handleReachView(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since := 48 * time.Hour
	if v := q.Get("since"); v != "" {
		d, err := parseDuration("since", v)
		if err != nil {
			badRequest(w, err)
			return
		}
		since = d
	}
	v4, err := prefixParam(q.Get("v4_prefix"), "v4_prefix", pki.DefaultV4Bits, 8, 32)
	if err != nil {
		badRequest(w, err)
		return
	}
	v6, err := prefixParam(q.Get("v6_prefix"), "v6_prefix", pki.DefaultV6Bits, 16, 128)
	if err != nil {
		badRequest(w, err)
		return
	}
	now := time.Now().UTC()
	list := api.ReachList{GeneratedAt: now, Since: now.Add(-since)}
	agg := newReachAgg(v4, v6)
	if err := p.s.st.EachReach(r.Context(), list.Since, func(row db.ReachRow) error { agg.add(row); return nil }); err != nil {
		p.s.internal(w, "reachability", err)
		return
	}
	list.Endpoints = agg.endpoints()
	writeJSON(w, http.StatusOK, list)
}

func prefixParam(v, name string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s=%q: use %d to %d", name, clip(v), lo, hi)
	}
	return n, nil
}

// reachAgg groups probes by endpoint and subnet.
type reachAgg struct {
	v4, v6 int
	eps    map[string]*reachEP
}

type reachEP struct {
	api.ReachEndpoint
	hosts, failing map[int64]bool
	subnets        map[string]*reachNet
	// nowhere holds the probes of hosts seen so far with no address that
	// names a subnet; those never placed count under "unknown".
	nowhere map[int64]db.ReachRow
	placed  map[int64]bool
}

type reachNet struct {
	hosts, failing map[int64]bool
	details        map[string]int
	last           time.Time
}

func newReachAgg(v4, v6 int) *reachAgg { return &reachAgg{v4: v4, v6: v6, eps: map[string]*reachEP{}} }

func (a *reachAgg) add(row db.ReachRow) {
	k := row.Kind + " " + row.URL
	ep := a.eps[k]
	if ep == nil {
		ep = &reachEP{ReachEndpoint: api.ReachEndpoint{Kind: row.Kind, URL: row.URL, CA: row.CA},
			hosts: map[int64]bool{}, failing: map[int64]bool{}, subnets: map[string]*reachNet{},
			nowhere: map[int64]db.ReachRow{}, placed: map[int64]bool{}}
		a.eps[k] = ep
	}
	ep.hosts[row.HostID] = true
	if !row.OK {
		ep.failing[row.HostID] = true
	}
	sn, ok := pki.Subnet(row.IP, a.v4, a.v6)
	if !ok {
		ep.nowhere[row.HostID] = row
		return
	}
	ep.placed[row.HostID] = true
	ep.place(sn, row)
}

// place counts row's host in subnet sn.
func (ep *reachEP) place(sn string, row db.ReachRow) {
	n := ep.subnets[sn]
	if n == nil {
		n = &reachNet{hosts: map[int64]bool{}, failing: map[int64]bool{}, details: map[string]int{}}
		ep.subnets[sn] = n
	}
	n.hosts[row.HostID] = true
	if !row.OK && !n.failing[row.HostID] {
		n.failing[row.HostID] = true
		n.details[row.Detail]++
	}
	if row.CheckedAt.After(n.last) {
		n.last = row.CheckedAt
	}
}

// endpoints returns the endpoints, most failing hosts first, each with
// its failing subnets, most failing first.
func (a *reachAgg) endpoints() []api.ReachEndpoint {
	out := make([]api.ReachEndpoint, 0, len(a.eps))
	for _, ep := range a.eps {
		for id, row := range ep.nowhere {
			if !ep.placed[id] {
				ep.place("unknown", row)
			}
		}
		e := ep.ReachEndpoint
		e.Hosts, e.Failing = int64(len(ep.hosts)), int64(len(ep.failing))
		e.Subnets = []api.ReachSubnet{}
		for name, n := range ep.subnets {
			if len(n.failing) == 0 {
				continue
			}
			e.Subnets = append(e.Subnets, api.ReachSubnet{Subnet: name, Hosts: int64(len(n.hosts)), Failing: int64(len(n.failing)),
				Detail: commonest(n.details), LastChecked: n.last})
		}
		sort.Slice(e.Subnets, func(i, j int) bool {
			if e.Subnets[i].Failing != e.Subnets[j].Failing {
				return e.Subnets[i].Failing > e.Subnets[j].Failing
			}
			return e.Subnets[i].Subnet < e.Subnets[j].Subnet
		})
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Failing != out[j].Failing {
			return out[i].Failing > out[j].Failing
		}
		if out[i].URL != out[j].URL {
			return out[i].URL < out[j].URL
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

func commonest(m map[string]int) string {
	best, n := "", 0
	for k, v := range m {
		if v > n || (v == n && k < best) {
			best, n = k, v
		}
	}
	return best
}
