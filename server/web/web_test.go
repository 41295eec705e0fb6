package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/servertest"
	storespkg "github.com/anchorwatch/anchorwatch/stores"
)

// Formatting as the page does it.
func fmtInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func fmtPct(x float64) string { return fmt.Sprintf("%.1f%%", math.Round(x*10)/10) }

// artifactsDir is where screenshots go: $ANCHORWATCH_ARTIFACTS/web, or
// artifacts/ under the test's temporary directory.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("ANCHORWATCH_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "artifacts")
	} else {
		dir = filepath.Join(dir, "web")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shown is what a rendered page shows: testid → text, and the testids in
// document order.
type shown struct {
	text  map[string]string
	order []string
}

func (s shown) want(t *testing.T, page, id, want string) {
	t.Helper()
	got, ok := s.text[id]
	if !ok {
		t.Errorf("%s: no element data-testid=%q (want %q)", page, id, want)
		return
	}
	if got != want {
		t.Errorf("%s: [data-testid=%q] shows %q, the API says %q", page, id, got, want)
	}
}

// rows returns the testids matching re, in order.
func (s shown) rows(re string) []string {
	rx := regexp.MustCompile(re)
	var out []string
	for _, id := range s.order {
		if rx.MatchString(id) {
			out = append(out, id)
		}
	}
	return out
}

type session struct {
	t    *testing.T
	c    *servertest.Collector
	p    *page
	dir  string
	ctx  context.Context
	shot int
}

// load navigates to path, waits for the page to render and returns what
// it shows; it saves a screenshot named name.
func (s *session) load(path, name string) shown {
	s.t.Helper()
	u, _ := url.Parse(path)
	state, err := s.p.navigate(s.ctx, s.c.URL+path, u.Path, "ready", "error")
	if err != nil {
		s.t.Fatalf("%s: %v", path, err)
	}
	ids, err := s.p.testids(s.ctx)
	if err != nil {
		s.t.Fatalf("%s: read the DOM: %v", path, err)
	}
	out := shown{text: map[string]string{}}
	for _, kv := range ids {
		out.text[kv[0]] = kv[1]
		out.order = append(out.order, kv[0])
	}
	s.shot++
	file := filepath.Join(s.dir, fmt.Sprintf("%02d-%s.png", s.shot, name))
	if err := s.p.screenshot(s.ctx, file); err != nil {
		s.t.Errorf("%s: screenshot: %v", path, err)
	} else {
		s.t.Logf("screenshot of %s: %s", path, file)
	}
	if state != "ready" {
		s.t.Fatalf("%s: the page shows an error: %q", path, out.text["page-error"])
	}
	if pr := s.p.problems(); len(pr) > 0 {
		s.t.Errorf("%s: the page logged errors (script exceptions or CSP violations): %v", path, pr)
	}
	return out
}

// TestDashboardChromium signs in to a collector holding a generated fleet
// with headless Chromium, loads every page and checks that each figure it
// shows is the API's.
func TestDashboardChromium(t *testing.T) {
	c := startDashboard(t)
	fillFleet(t, c)
	b := startBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := b.newPage(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	s := &session{t: t, c: c, p: p, dir: artifactsDir(t), ctx: ctx}

	t.Run("sign in through the form", func(t *testing.T) {
		// /hosts redirects to the login page, which comes back there.
		if _, err := p.navigate(ctx, c.URL+"/hosts?status=compliant", "/login", "login"); err != nil {
			t.Fatal(err)
		}
		if err := submitLogin(ctx, p, c.ViewerToken); err != nil {
			t.Fatal(err)
		}
		if _, err := p.waitState(ctx, "/hosts", "ready"); err != nil {
			t.Fatal(err)
		}
		var where struct{ Href, Cookie, Storage string }
		if err := p.eval(ctx, `({Href: location.href, Cookie: document.cookie, Storage: JSON.stringify(sessionStorage)+JSON.stringify(localStorage)})`, &where); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(where.Href, "token") || where.Href != c.URL+"/hosts?status=compliant" {
			t.Errorf("after sign-in the address is %q, want %s/hosts?status=compliant", where.Href, c.URL)
		}
		if strings.Contains(where.Cookie+where.Storage, c.ViewerToken) || strings.Contains(where.Cookie, "awd_") {
			t.Errorf("the page's script can read the token or the session (cookie %q, storage %q): the cookie must be HttpOnly", where.Cookie, where.Storage)
		}
	})

	t.Run("overview", func(t *testing.T) {
		var sum api.FleetSummary
		getJSON(t, c, api.PathSummary, &sum)
		var trend api.TrendList
		getJSON(t, c, api.PathTrend, &trend)
		if sum.Hosts != fleetHosts || sum.Compliant == 0 || sum.Compliant == sum.Hosts || sum.Offline != fleetOffline || sum.UnknownRoots != 2 || sum.BlockedRoots != 1 {
			t.Fatalf("generated fleet is not as designed: %+v", sum)
		}
		got := s.load("/", "overview")
		got.want(t, "overview", "kpi-hosts", fmtInt(sum.Hosts))
		got.want(t, "overview", "kpi-compliant", fmtInt(sum.Compliant))
		got.want(t, "overview", "kpi-compliant-pct", fmtPct(sum.CompliantPct)+" of hosts")
		got.want(t, "overview", "kpi-noncompliant", fmtInt(sum.ByStatus[string(api.HostStatusNoncompliant)]))
		got.want(t, "overview", "kpi-error", fmtInt(sum.ByStatus[string(api.HostStatusError)]))
		got.want(t, "overview", "kpi-pending", fmtInt(sum.ByStatus[string(api.HostStatusPending)]))
		got.want(t, "overview", "kpi-offline", fmtInt(sum.Offline))
		got.want(t, "overview", "kpi-unknown-roots", fmtInt(sum.UnknownRoots))
		got.want(t, "overview", "kpi-blocked-roots", fmtInt(sum.BlockedRoots))
		got.want(t, "overview", "kpi-policy-serial", fmtInt(sum.PolicySerial))
		for _, hs := range []api.HostStatus{api.HostStatusCompliant, api.HostStatusNoncompliant, api.HostStatusError, api.HostStatusPending} {
			st := string(hs)
			got.want(t, "overview", "hoststatus:"+st, fmtInt(sum.ByStatus[st]))
		}
		storeTotals := map[string]int64{}
		var stores int64
		for _, g := range sum.ByStoreKind {
			got.want(t, "overview", "kind:"+g.Key+":total", fmtInt(g.Total))
			got.want(t, "overview", "kind:"+g.Key+":compliant", fmtInt(g.Compliant))
			got.want(t, "overview", "kind:"+g.Key+":pct", fmtPct(g.CompliantPct))
			for st, n := range g.ByStatus {
				storeTotals[st] += n
				stores += n
			}
		}
		if len(sum.ByStoreKind) < 6 {
			t.Errorf("store kinds %v: want the 6 the fleet reports", sum.ByStoreKind)
		}
		for _, ss := range []storespkg.Status{storespkg.StatusCompliant, storespkg.StatusMissing, storespkg.StatusUntrusted, storespkg.StatusBlockedPresent, storespkg.StatusNeedsMDM, storespkg.StatusError} {
			st := string(ss)
			got.want(t, "overview", "storestatus:"+st, fmtInt(storeTotals[st]))
		}
		got.want(t, "overview", "stores-total", fmtInt(stores))
		var ro api.Rollout
		getJSON(t, c, api.PathRollout, &ro)
		if ro.Serial != sum.PolicySerial || ro.Now.On+ro.Now.Older+ro.Now.Silent != sum.Hosts || ro.Now.On == 0 || ro.Now.On == sum.Hosts {
			t.Errorf("rollout %+v: want serial %d, %d hosts, some on it and some not", ro, sum.PolicySerial, sum.Hosts)
		}
		got.want(t, "overview", "rollout-serial", strconv.FormatInt(ro.Serial, 10))
		got.want(t, "overview", "rollout-on", fmtInt(ro.Now.On))
		got.want(t, "overview", "rollout-older", fmtInt(ro.Now.Older))
		got.want(t, "overview", "rollout-silent", fmtInt(ro.Now.Silent))
		for prefix, groups := range map[string][]api.GroupCount{"os": sum.ByOS, "serial": sum.ByPolicySerial} {
			var order []string
			for _, g := range groups {
				order = append(order, prefix+":"+g.Key)
				got.want(t, "overview", prefix+":"+g.Key+":total", fmtInt(g.Total))
				got.want(t, "overview", prefix+":"+g.Key+":compliant", fmtInt(g.Compliant))
				got.want(t, "overview", prefix+":"+g.Key+":pct", fmtPct(g.CompliantPct))
			}
			if rows := got.rows("^" + prefix + ":[^:]+$"); strings.Join(rows, " ") != strings.Join(order, " ") {
				t.Errorf("overview: %s rows %v, the API's order is %v", prefix, rows, order)
			}
		}
		// The trend chart: one point per hourly snapshot and the current
		// one, which is the cards' figures (the API's and the page's).
		n := len(trend.Points)
		if n < 70 {
			t.Fatalf("trend has %d points, want the 72 hours generated and now", n)
		}
		got.want(t, "overview", "trend-points", strconv.Itoa(n))
		last := trend.Points[n-1]
		if !last.Current || last.Hosts != sum.Hosts || last.Compliant != sum.Compliant || last.CompliantPct != sum.CompliantPct {
			t.Errorf("trend's current point %+v does not match the summary: %d hosts, %d compliant (%.2f%%)", last, sum.Hosts, sum.Compliant, sum.CompliantPct)
		}
		got.want(t, "overview", "trend-last-pct", fmtPct(sum.CompliantPct))
		got.want(t, "overview", "trend-last-compliant", fmtInt(sum.Compliant))
		got.want(t, "overview", "trend-last-hosts", fmtInt(sum.Hosts))
		got.want(t, "overview", "kpi-stale", fmtInt(sum.Stale))
		got.want(t, "overview", "kpi-retired", fmtInt(sum.Retired))
		var circles int
		if err := p.eval(ctx, `document.querySelectorAll('[data-testid="trend-chart"] circle').length`, &circles); err != nil {
			t.Fatal(err)
		}
		if circles != n {
			t.Errorf("overview: the trend chart draws %d points, the API has %d", circles, n)
		}
		// This hour's snapshot is the fleet as the hour began (the
		// backfilled history ends with an hour ago; nobody was enrolled
		// then in this collector), not the fleet at its first write.
		if prev := trend.Points[n-2]; prev.Current || prev.Time.After(time.Now()) || prev.Hosts == sum.Hosts && prev.Compliant == sum.Compliant {
			t.Errorf("the point before the current one %+v should be an earlier hour's snapshot, not the fleet now", prev)
		}
		got.want(t, "overview", "whoami", "viewer · viewer")
	})

	t.Run("hosts pages", func(t *testing.T) {
		checkHosts := func(name, uiQuery, apiQuery string) shown {
			t.Helper()
			var list api.HostList
			getJSON(t, c, api.PathHosts+"?"+apiQuery, &list)
			got := s.load("/hosts?"+uiQuery, name)
			var want []string
			for _, h := range list.Hosts {
				k := fmt.Sprintf("host:%d", h.ID)
				want = append(want, k)
				got.want(t, name, k+":hostname", h.Hostname)
				got.want(t, name, k+":status", string(h.Status))
				got.want(t, name, k+":stores", fmt.Sprintf("%d / %d", h.StoresCompliant, h.StoresTotal))
				got.want(t, name, k+":unknown", fmtInt(h.UnknownRoots))
				got.want(t, name, k+":blocked", fmtInt(h.BlockedRoots))
				got.want(t, name, k+":serial", strconv.FormatInt(h.PolicySerial, 10))
			}
			if rows := got.rows(`^host:\d+$`); strings.Join(rows, " ") != strings.Join(want, " ") {
				t.Errorf("%s: rows %v, the API lists %v", name, rows, want)
			}
			got.want(t, name, "hosts-count", strconv.Itoa(len(list.Hosts)))
			return got
		}
		// Page 1, then follow the page's own Next link (cursor).
		checkHosts("hosts", "", "limit=25")
		var next string
		if err := p.eval(ctx, `document.querySelector('[data-testid="next-page"]').getAttribute('href')`, &next); err != nil {
			t.Fatal(err)
		}
		var page1 api.HostList
		getJSON(t, c, api.PathHosts+"?limit=25", &page1)
		nu, err := url.Parse(next)
		if err != nil || nu.Query().Get("cursor") != page1.NextCursor {
			t.Fatalf("Next link %q: want cursor %q", next, page1.NextCursor)
		}
		got := checkHosts("hosts-page2", nu.RawQuery, "limit=25&cursor="+url.QueryEscape(page1.NextCursor))
		got.want(t, "hosts-page2", "hosts-range", "26–50")
		var nextDisabled bool
		if err := p.eval(ctx, `document.querySelector('[data-testid="next-page"]').classList.contains('disabled')`, &nextDisabled); err != nil {
			t.Fatal(err)
		}
		if !nextDisabled {
			t.Error("hosts-page2: the last page still offers Next")
		}
		checkHosts("hosts-noncompliant-linux", "status=noncompliant&os=linux", "status=noncompliant&os=linux&limit=25")
		checkHosts("hosts-hostname", "hostname=SRV-", "hostname=SRV-&limit=25")
		checkHosts("hosts-java-error", "store_kind=java&store_status=error", "store_kind=java&store_status=error&limit=25")
		checkHosts("hosts-serial-41", "policy_serial=41&limit=50", "policy_serial=41&limit=50")
		got = checkHosts("hosts-offline", "seen=off24h", "offline_after=24h&limit=25")
		if n := len(got.rows(`^host:\d+$`)); n != fleetOffline {
			t.Errorf("hosts-offline: %d rows, want the %d backdated hosts", n, fleetOffline)
		}
		got = checkHosts("hosts-seen-1h", "seen=1h", "seen_after="+url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))+"&limit=25")
		got.want(t, "hosts-seen-1h", "hosts-count", "25") // 45 hosts seen, a page of 25
		if !strings.Contains(got.text["hosts-range"], "1–25") {
			t.Errorf("hosts-seen-1h: range %q", got.text["hosts-range"])
		}
		var csv string
		if err := p.eval(ctx, `document.querySelector('[data-testid="csv-link"]').getAttribute('href')`, &csv); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(csv, api.PathHostsCSV+"?") || strings.Contains(csv, "cursor") {
			t.Errorf("CSV link %q: want the hosts.csv export with the page's filters", csv)
		}
	})

	t.Run("host detail", func(t *testing.T) {
		// ws-031: Linux, NSS missing after a failed heal, an unknown root.
		var list api.HostList
		getJSON(t, c, api.PathHosts+"?hostname=ws-031.", &list)
		if len(list.Hosts) != 1 {
			t.Fatalf("ws-031: %d hosts", len(list.Hosts))
		}
		var h api.HostDetail
		getJSON(t, c, fmt.Sprintf("%s/%d?events=200", api.PathHosts, list.Hosts[0].ID), &h)
		if len(h.Stores) == 0 || len(h.Events) == 0 || len(h.UnknownRoots) == 0 {
			t.Fatalf("ws-031 should have stores, events and an unknown root: %+v", h)
		}
		got := s.load(fmt.Sprintf("/hosts/%d", h.ID), "host-detail")
		got.want(t, "host", "host-status", string(h.Status))
		got.want(t, "host", "host-stores", fmt.Sprintf("%d / %d", h.StoresCompliant, h.StoresTotal))
		// HostDetail.UnknownRoots (the list) shadows the summary's count in JSON.
		unknown := 0
		for _, r := range h.UnknownRoots {
			if r.Class == "unknown" {
				unknown++
			}
		}
		got.want(t, "host", "host-roots", fmt.Sprintf("%d / %d", unknown, h.BlockedRoots))
		got.want(t, "host", "host-serial", strconv.FormatInt(h.PolicySerial, 10))
		var stores []string
		for _, st := range h.Stores {
			stores = append(stores, "store:"+st.ID)
			got.want(t, "host", "store:"+st.ID+":status", string(st.Status))
		}
		for _, id := range stores {
			if _, ok := got.text[id]; !ok {
				t.Errorf("host: store row %s missing", id)
			}
		}
		var events []string
		for _, e := range h.Events {
			k := fmt.Sprintf("event:%d", e.Seq)
			events = append(events, k)
			got.want(t, "host", k+":type", string(e.Type))
		}
		if rows := got.rows(`^event:\d+$`); strings.Join(rows, " ") != strings.Join(events, " ") {
			t.Errorf("host: event rows %v, the API lists %v", rows, events)
		}
		for _, r := range h.UnknownRoots {
			if _, ok := got.text["hroot:"+r.SHA256]; !ok {
				t.Errorf("host: root %s not shown", r.Subject)
			}
		}
		for _, ca := range h.CAs {
			if _, ok := got.text["hca:"+ca.SHA256]; !ok {
				t.Errorf("host: CA %s not shown", ca.Subject)
			}
		}
		var injected struct {
			Imgs   int
			Pwned  bool
			Detail bool
		}
		if err := p.eval(ctx, `({Imgs: document.querySelectorAll('main img').length, Pwned: 'pwned' in document.body.dataset,
			Detail: document.querySelector('main').textContent.includes('<img src=x onerror=')})`, &injected); err != nil {
			t.Fatal(err)
		}
		if injected.Imgs != 0 || injected.Pwned || !injected.Detail {
			t.Errorf("host: markup in an agent's store detail was not shown as text: %+v", injected)
		}
		if n := len(got.rows(`^addr:`)); n != len(h.Addresses) {
			t.Errorf("host: %d addresses shown, the API has %d", n, len(h.Addresses))
		}
	})

	t.Run("events", func(t *testing.T) {
		var list api.EventList
		getJSON(t, c, api.PathEvents+"?limit=50&since="+url.QueryEscape(time.Now().Add(-7*24*time.Hour).UTC().Format(time.RFC3339)), &list)
		if len(list.Events) < 20 {
			t.Fatalf("only %d events generated", len(list.Events))
		}
		for i := 1; i < len(list.Events); i++ {
			if list.Events[i].Time.After(list.Events[i-1].Time) {
				t.Fatalf("the events API does not list newest first: %v after %v", list.Events[i].Time, list.Events[i-1].Time)
			}
		}
		// since=7d (a duration, as the docs say) is the same list.
		var byDuration api.EventList
		getJSON(t, c, api.PathEvents+"?limit=50&since=7d", &byDuration)
		if fmt.Sprint(seqs(byDuration)) != fmt.Sprint(seqs(list)) {
			t.Errorf("since=7d lists %v, since=<RFC 3339 a week ago> %v", seqs(byDuration), seqs(list))
		}
		// Times to the second with the zone's offset: shown in a zone
		// that is not UTC (the page uses the browser's).
		if err := p.call(ctx, "Emulation.setTimezoneOverride", map[string]string{"timezoneId": "Asia/Kolkata"}, nil); err != nil {
			t.Fatal(err)
		}
		defer p.call(ctx, "Emulation.setTimezoneOverride", map[string]string{"timezoneId": ""}, nil)
		kolkata, err := time.LoadLocation("Asia/Kolkata")
		if err != nil {
			t.Fatal(err)
		}
		got := s.load("/events?since=7d", "events")
		var want []string
		for _, e := range list.Events {
			k := fmt.Sprintf("event:%d", e.Seq)
			want = append(want, k)
			got.want(t, "events", k+":host", e.Hostname)
			got.want(t, "events", k+":type", string(e.Type))
			got.want(t, "events", k+":time", e.Time.In(kolkata).Format("2006-01-02 15:04:05 -07:00"))
		}
		if rows := got.rows(`^event:\d+$`); strings.Join(rows, " ") != strings.Join(want, " ") {
			t.Errorf("events: rows %v, the API lists %v", rows, want)
		}
		got.want(t, "events", "events-count", strconv.Itoa(len(list.Events)))
		// Page 2 through the page's Next link.
		var next string
		if err := p.eval(ctx, `document.querySelector('[data-testid="next-page"]').getAttribute('href')`, &next); err != nil {
			t.Fatal(err)
		}
		nu, err := url.Parse(next)
		if err != nil || list.NextCursor == "" || nu.Query().Get("cursor") != list.NextCursor {
			t.Fatalf("events Next link %q: want cursor %q", next, list.NextCursor)
		}
		var page2 api.EventList
		getJSON(t, c, api.PathEvents+"?limit=50&cursor="+url.QueryEscape(list.NextCursor)+"&since="+url.QueryEscape(time.Now().Add(-7*24*time.Hour).UTC().Format(time.RFC3339)), &page2)
		got = s.load(next, "events-page2")
		want = want[:0]
		for _, e := range page2.Events {
			want = append(want, fmt.Sprintf("event:%d", e.Seq))
		}
		if rows := got.rows(`^event:\d+$`); len(want) == 0 || strings.Join(rows, " ") != strings.Join(want, " ") {
			t.Errorf("events page 2: rows %v, the API lists %v", rows, want)
		}
		var typed api.EventList
		getJSON(t, c, api.PathEvents+"?type=heal-failed&since="+url.QueryEscape(time.Now().Add(-30*24*time.Hour).UTC().Format(time.RFC3339)), &typed)
		got = s.load("/events?since=30d&type=heal-failed", "events-heal-failed")
		got.want(t, "events-heal-failed", "events-count", strconv.Itoa(len(typed.Events)))
		// since=1h: the last hour's events (the generated ones are older
		// than an hour), as in the docs; and a window the menu lacks.
		var hour api.EventList
		getJSON(t, c, api.PathEvents+"?since=1h", &hour)
		got = s.load("/events?since=1h", "events-1h")
		got.want(t, "events-1h", "events-count", strconv.Itoa(len(hour.Events)))
		var twoDays api.EventList
		getJSON(t, c, api.PathEvents+"?limit=50&since=50h", &twoDays)
		got = s.load("/events?since=50h", "events-50h")
		if rows := got.rows(`^event:\d+$`); len(rows) != len(twoDays.Events) || len(rows) == 0 {
			t.Errorf("events since=50h: %d rows, the API lists %d", len(rows), len(twoDays.Events))
		}
	})

	t.Run("roots", func(t *testing.T) {
		for _, class := range []string{"", "blocked"} {
			var list api.RootList
			getJSON(t, c, api.PathRoots+"?limit=1000&class="+class, &list)
			name := "roots" + map[string]string{"": "", "blocked": "-blocked"}[class]
			got := s.load("/roots?class="+class, name)
			var want []string
			for _, r := range list.Roots {
				k := "root:" + r.SHA256
				want = append(want, k)
				got.want(t, name, k+":hosts", fmtInt(r.Hosts))
				got.want(t, name, k+":class", string(r.Class))
			}
			if rows := got.rows(`^root:[0-9a-f]+$`); strings.Join(rows, " ") != strings.Join(want, " ") {
				t.Errorf("%s: rows %v, the API lists %v", name, rows, want)
			}
			got.want(t, name, "roots-count", strconv.Itoa(len(list.Roots)))
		}
	})

	t.Run("CA expiry", func(t *testing.T) {
		var list api.CAExpiryList
		getJSON(t, c, api.PathCAs, &list)
		if len(list.CAs) != 2 {
			t.Fatalf("CAs %+v: want G1 and G2", list.CAs)
		}
		days := func(ca api.CAExpiry) string {
			return fmt.Sprintf("%d days", int(math.Floor(float64(time.Until(ca.NotAfter))/float64(24*time.Hour))))
		}
		before := map[string]string{}
		for _, ca := range list.CAs {
			before[ca.SHA256] = days(ca)
		}
		got := s.load("/cas", "cas")
		for _, ca := range list.CAs {
			k := "ca:" + ca.SHA256
			got.want(t, "cas", k+":hosts", fmtInt(ca.Hosts))
			got.want(t, "cas", k+":notafter", ca.NotAfter.Local().Format("2006-01-02"))
			if d := got.text[k+":days"]; d != before[ca.SHA256] && d != days(ca) { // a day may end while the page loads
				t.Errorf("cas: %s shows %q days left, the API's not_after %v gives %s", ca.Subject, d, ca.NotAfter, days(ca))
			}
		}
		got.want(t, "cas", "cas-count", "2")
	})

	t.Run("unmanaged devices", func(t *testing.T) {
		// Evidence over the API: two enrolled hosts' addresses, a device
		// that refused the CA, unmanaged devices, and exempt printers
		// whose reason carries markup (it must show as text).
		now := time.Now().UTC().Truncate(time.Second)
		obs := []api.Observation{
			{IP: "10.20.0.10", SeenAt: now.Add(-time.Minute), Source: "squid-access", Count: 500},
			{IP: "10.20.0.11", SeenAt: now.Add(-2 * time.Minute), Source: "squid-access", Count: 20},
			{IP: "10.77.0.5", SeenAt: now.Add(-3 * time.Hour), LastSeen: now.Add(-5 * time.Minute), Source: "squid-access", Count: 42},
			{IP: "10.77.0.5", SeenAt: now.Add(-10 * time.Minute), Source: "squid-cache", Evidence: "rejected the interception certificate (unknown ca)"},
			{IP: "10.9.0.7", Hostname: "printer-7", SeenAt: now.Add(-20 * time.Minute), Source: "csv:inventory"},
			// A phone that offers only old TLS: shown, not counted as refusing the CA.
			{IP: "192.168.60.10", SeenAt: now.Add(-25 * time.Minute), Source: "squid-access", Evidence: "TLS protocol or cipher mismatch with the proxy: no shared cipher"},
		}
		for i := 0; i < 30; i++ {
			obs = append(obs, api.Observation{IP: fmt.Sprintf("192.168.60.%d", 10+i), MAC: fmt.Sprintf("aa:bb:cc:00:00:%02x", i),
				Hostname: fmt.Sprintf("phone-%02d", i), SeenAt: now.Add(-time.Duration(30+i) * time.Minute), Source: "dhcpd",
				LeaseEnd: now.Add(12 * time.Hour)})
		}
		code, body := c.Do(t, "POST", api.PathObservations, c.AdminToken, api.ObservationBatch{BatchID: "web-test-1", Observations: obs})
		if code == http.StatusNotFound {
			got := s.load("/devices", "devices")
			if _, ok := got.text["devices-unavailable"]; !ok {
				t.Errorf("devices: the collector has no device API, and the page does not say so")
			}
			return
		}
		if code != http.StatusOK {
			t.Fatalf("post observations: %d %s", code, body)
		}
		if code, body := c.Do(t, "POST", api.PathExemptions, c.AdminToken, map[string]string{"kind": "subnet", "value": "10.9.0.0/16", "reason": "<b>printers</b>"}); code != http.StatusCreated {
			t.Fatalf("add exemption: %d %s", code, body)
		}
		type device struct {
			Key       string   `json:"key"`
			Status    string   `json:"status"`
			IPs       []string `json:"ips"`
			Sightings int64    `json:"sightings"`
			RejectsCA bool     `json:"rejects_ca"`
			TLS       []string `json:"tls_failures"`
			Exemption *struct {
				Kind, Value, Reason string
			} `json:"exemption"`
		}
		type page struct {
			Devices    []device `json:"devices"`
			Total      int      `json:"total"`
			NextCursor string   `json:"next_cursor"`
		}
		var sum api.DeviceSummary
		getJSON(t, c, api.PathDevicesSummary, &sum)
		if sum.Unmanaged != 31 || sum.Exempt != 1 || sum.Managed != 2 || sum.UnmanagedRejectingCA != 1 {
			t.Errorf("device summary %+v: want 31 unmanaged (1 refusing the CA), 1 exempt, 2 managed", sum)
		}
		check := func(path, name string, apiQuery string) shown {
			t.Helper()
			var p page
			getJSON(t, c, api.PathDevices+apiQuery, &p)
			got := s.load(path, name)
			var want []string
			for _, d := range p.Devices {
				k := "device:" + d.Key
				want = append(want, k)
				got.want(t, name, k+":status", d.Status)
				got.want(t, name, k+":sightings", fmtInt(d.Sightings))
				got.want(t, name, k+":ips", strings.Join(d.IPs, ", "))
				if _, shows := got.text[k+":rejects"]; shows != d.RejectsCA {
					t.Errorf("%s: %s shows 'refused the CA' %v, the API says rejects_ca=%v", name, d.Key, shows, d.RejectsCA)
				}
				if d.Exemption != nil {
					got.want(t, name, k+":exemption", d.Exemption.Kind+" "+d.Exemption.Value+": "+d.Exemption.Reason)
				}
				for _, kind := range []string{"protocol", "timeout", "unknown"} {
					_, shows := got.text[k+":tls-"+kind]
					if api := strings.Contains(","+strings.Join(d.TLS, ",")+",", ","+kind+","); shows != api {
						t.Errorf("%s: %s shows the %s handshake failure %v, the API's tls_failures are %v", name, d.Key, kind, shows, d.TLS)
					}
				}
			}
			// Rows are "device:KEY"; their cells add a suffix.
			rows := got.rows(`^device:.*[^:]$`)
			for i := len(rows) - 1; i >= 0; i-- {
				if regexp.MustCompile(`:(status|sightings|ips|macs|hostnames|evidence|rejects|tls-[a-z]+|exemption|host|seen)$`).MatchString(rows[i]) {
					rows = append(rows[:i], rows[i+1:]...)
				}
			}
			if strings.Join(rows, " ") != strings.Join(want, " ") {
				t.Errorf("%s: rows %v, the API lists %v", name, rows, want)
			}
			got.want(t, name, "devices-count", strconv.Itoa(len(p.Devices)))
			got.want(t, name, "devices-total", fmtInt(int64(p.Total)))
			got.want(t, name, "devices-kpi-unmanaged", fmtInt(sum.Unmanaged))
			got.want(t, name, "devices-kpi-rejecting", fmtInt(sum.UnmanagedRejectingCA))
			got.want(t, name, "devices-kpi-exempt", fmtInt(sum.Exempt))
			got.want(t, name, "devices-kpi-managed", fmtInt(sum.Managed))
			return got
		}
		got := check("/devices", "devices", "?limit=50")
		if got.text["device:ip:10.77.0.5:evidence"] == "" || !strings.Contains(got.text["device:ip:10.77.0.5:evidence"], "rejected the interception certificate (unknown ca)") {
			t.Errorf("devices: the rejection evidence is not shown: %q", got.text["device:ip:10.77.0.5:evidence"])
		}
		if _, ok := got.text["device:mac:aa:bb:cc:00:00:00:tls-protocol"]; !ok {
			t.Errorf("devices: the phone's protocol mismatch is not shown")
		}
		if ex := got.text["device:ip:10.9.0.7:exemption"]; ex != "subnet 10.9.0.0/16: <b>printers</b>" {
			t.Errorf("devices: exemption shown as %q, want the reason as text", ex)
		}
		check("/devices?rejects_ca=true&status=unmanaged", "devices-rejecting", "?limit=50&rejects_ca=true&status=unmanaged")
		check("/devices?status=managed", "devices-managed", "?limit=50&status=managed")
		check("/devices?subnet=192.168.60.0%2F28&source=dhcpd&limit=25", "devices-subnet", "?limit=25&subnet=192.168.60.0/28&source=dhcpd")
		// Page 2 through the page's Next link.
		got = check("/devices?limit=25", "devices-page1", "?limit=25")
		var next string
		if err := p.eval(ctx, `document.querySelector('[data-testid="devices-next-page"]').getAttribute('href')`, &next); err != nil {
			t.Fatal(err)
		}
		nu, err := url.Parse(next)
		if err != nil || nu.Query().Get("cursor") == "" {
			t.Fatalf("devices Next link %q", next)
		}
		check(next, "devices-page2", "?limit=25&cursor="+url.QueryEscape(nu.Query().Get("cursor")))
		// The CSV link exports the same filter.
		var csvHref string
		if err := p.eval(ctx, `document.querySelector('[data-testid="devices-csv-link"]').getAttribute('href')`, &csvHref); err != nil {
			t.Fatal(err)
		}
		cu, _ := url.Parse(csvHref)
		if cu.Path != api.PathDevices || cu.Query().Get("format") != "csv" || cu.Query().Has("cursor") {
			t.Errorf("CSV link %q", csvHref)
		}
		code, body = c.Do(t, "GET", csvHref, c.ViewerToken, nil)
		if code != http.StatusOK || strings.Count(string(body), "\n") != 1+32 {
			t.Errorf("CSV export: %d, %d lines, want a header and 32 devices", code, strings.Count(string(body), "\n"))
		}
		// The overview counts unmanaged devices.
		ov := s.load("/", "overview-devices")
		ov.want(t, "overview", "kpi-unmanaged-devices", fmtInt(sum.Unmanaged))
		ov.want(t, "overview", "kpi-unmanaged-rejecting", fmtInt(sum.UnmanagedRejectingCA)+" refused the CA")
	})

	t.Run("no token in a fresh browser", func(t *testing.T) {
		anon, err := b.newPage(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/", "/hosts", "/hosts/1", "/events", "/roots", "/cas", "/devices"} {
			if _, err := anon.navigate(ctx, c.URL+path, "/login", "login"); err != nil {
				t.Fatalf("%s without a token: %v", path, err)
			}
			ids, err := anon.testids(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, kv := range ids {
				if strings.HasPrefix(kv[0], "host:") || strings.HasPrefix(kv[0], "kpi-") {
					t.Errorf("%s without a token shows %s=%q", path, kv[0], kv[1])
				}
			}
		}
		var status int
		if err := anon.eval(ctx, `fetch('/api/v1/summary').then(r => r.status)`, &status); err != nil {
			t.Fatal(err)
		}
		if status != http.StatusUnauthorized {
			t.Errorf("summary API without a token: %d, want 401", status)
		}
		file := filepath.Join(s.dir, "00-login.png")
		if err := anon.screenshot(ctx, file); err != nil {
			t.Error(err)
		} else {
			t.Logf("screenshot of the login page: %s", file)
		}
		// A sign-in link is not followed: the token leaves the address bar,
		// the page says why, and the browser is not signed in.
		if _, err := anon.navigate(ctx, c.URL+"/hosts#token="+c.ViewerToken, "/login", "login"); err != nil {
			t.Fatal(err)
		}
		waitTestid(t, ctx, anon, "link-signin-refused")
		var href string
		if err := anon.eval(ctx, `location.href`, &href); err != nil || strings.Contains(href, "token") {
			t.Errorf("after a sign-in link the address is %q (%v): the token must be gone", href, err)
		}
		if err := anon.eval(ctx, `fetch('/api/v1/summary').then(r => r.status)`, &status); err != nil || status != http.StatusUnauthorized {
			t.Errorf("a sign-in link signed the browser in: summary API %d (%v), want 401", status, err)
		}
		// A wrong token is refused with a message, and nothing is set.
		if err := submitLogin(ctx, anon, "awt_wrong"); err != nil {
			t.Fatal(err)
		}
		if _, err := anon.waitState(ctx, "/login", "login"); err != nil {
			t.Fatal(err)
		}
		waitTestid(t, ctx, anon, "login-error")
		if pr := anon.problems(); len(pr) > 0 {
			t.Errorf("login page logged errors: %v", pr)
		}
	})

	t.Run("empty collector", func(t *testing.T) {
		empty := startDashboard(t)
		ep := signedInPage(t, ctx, b, empty.URL, empty.ViewerToken, "/", "/")
		es := &session{t: t, c: empty, p: ep, dir: s.dir, ctx: ctx, shot: 50}
		got := es.load("/", "empty-overview")
		got.want(t, "empty", "kpi-hosts", "0")
		got.want(t, "empty", "kpi-compliant-pct", "0.0% of hosts")
		got.want(t, "empty", "trend-points", "1") // the current point only
		got.want(t, "empty", "trend-last-hosts", "0")
		for _, path := range []string{"/hosts", "/events", "/roots", "/cas", "/devices", "/pki"} {
			es.load(path, "empty"+strings.ReplaceAll(path, "/", "-"))
		}
		code, _ := empty.Do(t, "GET", "/api/v1/hosts/1", empty.ViewerToken, nil)
		if _, err := ep.navigate(ctx, empty.URL+"/hosts/1", "/hosts/1", "error"); err != nil || code != http.StatusNotFound {
			t.Errorf("a host that does not exist (API %d): %v", code, err)
		}
	})

	t.Run("flagged host", func(t *testing.T) {
		// Someone enrolls host 1's machine id without its key (last: the
		// other pages above count the generated fleet).
		var h1 api.HostDetail
		getJSON(t, c, api.PathHosts+"/1", &h1)
		code, body := c.Do(t, "POST", api.PathEnroll, "", api.EnrollRequest{EnrollSecret: c.EnrollSecret,
			Host: api.HostFacts{Hostname: "impostor", MachineID: h1.MachineID, OS: "linux"}})
		if code != http.StatusOK {
			t.Fatalf("impostor enrollment: %d %s", code, body)
		}
		var er api.EnrollResponse
		if err := json.Unmarshal(body, &er); err != nil || er.Conflict == "" {
			t.Fatalf("impostor enrollment: %s %v", body, err)
		}
		list := s.load("/hosts?flagged=true", "hosts-flagged")
		if rows := list.rows(`^host:\d+$`); len(rows) != 1 || rows[0] != fmt.Sprintf("host:%d", er.HostID) {
			t.Errorf("flagged hosts listed: %v, want host:%d only", rows, er.HostID)
		}
		list.want(t, "flagged hosts", fmt.Sprintf("host:%d:flagged", er.HostID), "flagged")
		ov := s.load("/", "overview-flagged")
		ov.want(t, "overview", "kpi-flagged-hosts", "1")
		got := s.load(fmt.Sprintf("/hosts/%d", er.HostID), "host-flagged")
		if !strings.Contains(got.text["host-conflict"], er.Conflict) {
			t.Errorf("the flagged host's page shows %q, want the conflict %q", got.text["host-conflict"], er.Conflict)
		}
		got.want(t, "flagged host", "host-key", "none (enrolled before host keys)")
	})

	t.Run("admin retires and deletes a host", func(t *testing.T) {
		// The viewer's page offers no action.
		var list api.HostList
		getJSON(t, c, api.PathHosts+"?hostname=ws-010.", &list)
		if len(list.Hosts) != 1 {
			t.Fatalf("ws-010: %+v", list.Hosts)
		}
		id := list.Hosts[0].ID
		got := s.load(fmt.Sprintf("/hosts/%d", id), "host-viewer")
		if _, ok := got.text["host-actions"]; ok {
			t.Error("a viewer's host page offers host actions")
		}
		ap := signedInPage(t, ctx, b, c.URL, c.AdminToken, fmt.Sprintf("/hosts/%d", id), "/hosts/")
		as := &session{t: t, c: c, p: ap, dir: s.dir, ctx: ctx, shot: 70}
		var before api.FleetSummary
		getJSON(t, c, api.PathSummary, &before)
		click := func(testid, wantPath string) {
			t.Helper()
			if err := ap.eval(ctx, `document.querySelector('[data-testid="`+testid+`"]').click(), true`, nil); err != nil {
				t.Fatal(err)
			}
			if err := ap.eval(ctx, `document.body.setAttribute('data-state', 'navigating'), document.querySelector('[data-testid="`+testid+`-confirm"]').click(), true`, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := ap.waitState(ctx, wantPath, "ready"); err != nil {
				t.Fatal(err)
			}
		}
		as.load(fmt.Sprintf("/hosts/%d", id), "host-admin")
		click("host-retire", fmt.Sprintf("/hosts/%d", id))
		waitTestid(t, ctx, ap, "host-retired")
		var after api.FleetSummary
		getJSON(t, c, api.PathSummary, &after)
		if after.Hosts != before.Hosts-1 || after.Retired != before.Retired+1 {
			t.Errorf("retiring from the dashboard: hosts %d → %d, retired %d → %d", before.Hosts, after.Hosts, before.Retired, after.Retired)
		}
		ov := as.load("/", "overview-retired")
		ov.want(t, "overview after retiring", "kpi-hosts", fmtInt(after.Hosts))
		ov.want(t, "overview after retiring", "kpi-retired", fmtInt(after.Retired))
		ov.want(t, "overview after retiring", "trend-last-hosts", fmtInt(after.Hosts))
		ov.want(t, "overview after retiring", "trend-last-compliant", fmtInt(after.Compliant))
		ret := as.load("/hosts?lifecycle=retired", "hosts-retired")
		if rows := ret.rows(`^host:\d+$`); len(rows) != 1 || rows[0] != fmt.Sprintf("host:%d", id) {
			t.Errorf("retired hosts listed: %v, want host:%d", rows, id)
		}
		ret.want(t, "retired hosts", fmt.Sprintf("host:%d:retired", id), "retired")
		if active := as.load("/hosts?hostname=ws-010.", "hosts-active"); len(active.rows(`^host:\d+$`)) != 0 {
			t.Error("the retired host is still listed among the active hosts")
		}
		as.load(fmt.Sprintf("/hosts/%d", id), "host-retired")
		click("host-delete", "/hosts")
		waitTestid(t, ctx, ap, "host-deleted")
		if code, _ := c.Do(t, "GET", fmt.Sprintf("%s/%d", api.PathHosts, id), c.ViewerToken, nil); code != http.StatusNotFound {
			t.Errorf("deleted host: API %d, want 404", code)
		}
		if pr := ap.problems(); len(pr) > 0 {
			t.Errorf("admin page logged errors: %v", pr)
		}
	})

	t.Run("sign out", func(t *testing.T) {
		if err := p.eval(ctx, `document.querySelector('form[action="/logout"]').submit(), true`, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := p.waitState(ctx, "/login", "login"); err != nil {
			t.Fatal(err)
		}
		if _, err := p.navigate(ctx, c.URL+"/hosts", "/login", "login"); err != nil {
			t.Fatalf("after sign-out /hosts: %v", err)
		}
	})
}

func seqs(l api.EventList) []int64 {
	var out []int64
	for _, e := range l.Events {
		out = append(out, e.Seq)
	}
	return out
}

// signedInPage opens a private page on path of the collector at base,
// signs in with tok through the form and waits for the page at wantPath.
func signedInPage(t *testing.T, ctx context.Context, b *browser, base, tok, path, wantPath string) *page {
	t.Helper()
	p, err := b.newPage(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.navigate(ctx, base+path, "/login", "login"); err != nil {
		t.Fatal(err)
	}
	if err := submitLogin(ctx, p, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := p.waitState(ctx, wantPath, "ready"); err != nil {
		t.Fatal(err)
	}
	return p
}

// submitLogin types tok into the login form and submits it, as a user
// does (the form carries the page's anti-forgery value).
func submitLogin(ctx context.Context, p *page, tok string) error {
	b, _ := json.Marshal(tok)
	return p.eval(ctx, `(function () { var f = document.getElementById('login-form'); f.elements.token.value = `+string(b)+
		`; document.body.setAttribute('data-state', 'navigating'); f.submit(); return true; })()`, nil)
}

// waitTestid waits until the page shows an element with data-testid id.
func waitTestid(t *testing.T, ctx context.Context, p *page, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		if err := p.eval(ctx, `document.querySelectorAll('[data-testid="`+id+`"]').length`, &n); err == nil && n > 0 {
			return
		}
		if time.Now().After(deadline) {
			ids, err := p.testids(ctx)
			t.Fatalf("no %s shown (%v, %v)", id, ids, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
