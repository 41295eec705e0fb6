package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server"
	"github.com/anchorwatch/anchorwatch/server/servertest"
	"github.com/anchorwatch/anchorwatch/server/store"
	"github.com/anchorwatch/anchorwatch/server/throttle"
	"github.com/anchorwatch/anchorwatch/server/web"
	"github.com/anchorwatch/anchorwatch/stores"
)

// lazySessions lets the dashboard be built before servertest opens the
// store it keeps sessions in.
type lazySessions struct{ st atomic.Pointer[store.Store] }

var errNotOpen = fmt.Errorf("store not open yet")

func (l *lazySessions) CheckToken(ctx context.Context, tok string) (string, string, error) {
	if st := l.st.Load(); st != nil {
		return st.CheckToken(ctx, tok)
	}
	return "", "", errNotOpen
}

func (l *lazySessions) CreateSession(ctx context.Context, tok string, lim store.SessionLimits, now time.Time) (string, error) {
	if st := l.st.Load(); st != nil {
		return st.CreateSession(ctx, tok, lim, now)
	}
	return "", errNotOpen
}

func (l *lazySessions) CheckSession(ctx context.Context, id string, now time.Time) (string, string, error) {
	if st := l.st.Load(); st != nil {
		return st.CheckSession(ctx, id, now)
	}
	return "", "", errNotOpen
}

func (l *lazySessions) EndSession(ctx context.Context, id string) error {
	if st := l.st.Load(); st != nil {
		return st.EndSession(ctx, id)
	}
	return errNotOpen
}

// startDashboard starts a real collector serving the dashboard, the
// sign-in form and the API sharing one limiter, as `collector serve` does.
func startDashboard(t *testing.T, opts ...web.Options) *servertest.Collector {
	t.Helper()
	sessions := &lazySessions{}
	o := web.Options{}
	if len(opts) > 0 {
		o = opts[0]
	}
	o.Sessions = sessions
	if o.Limiter == nil {
		o.Limiter = throttle.New(throttle.Options{})
	}
	c := servertest.StartCollector(t, servertest.Options{Config: server.Config{UI: web.Handler(o), Limiter: o.Limiter}})
	sessions.st.Store(c.Store)
	return c
}

func hexOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// The fleet's roots and CAs.
var (
	caG2       = api.CA{SHA256: hexOf("ca-g2"), Subject: "CN=Example Corp Inspection CA G2,O=Example Corp"}
	caG1       = api.CA{SHA256: hexOf("ca-g1"), Subject: "CN=Example Corp Inspection CA G1,O=Example Corp"}
	rootDebug  = api.Root{SHA256: hexOf("debug-proxy"), SPKI: hexOf("debug-proxy-spki"), Subject: "CN=Acme Debug Proxy Root", Issuer: "CN=Acme Debug Proxy Root", Class: "unknown", NotAfter: time.Date(2034, 3, 1, 0, 0, 0, 0, time.UTC)}
	rootDev    = api.Root{SHA256: hexOf("local-dev"), SPKI: hexOf("local-dev-spki"), Subject: "CN=mkcert dev@laptop,OU=dev@laptop,O=mkcert development CA", Issuer: "CN=mkcert dev@laptop", Class: "unknown", NotAfter: time.Date(2035, 7, 9, 0, 0, 0, 0, time.UTC)}
	rootSuperf = api.Root{SHA256: hexOf("superfish"), SPKI: hexOf("superfish-spki"), Subject: "CN=Superfish\\, Inc.,O=Superfish\\, Inc.", Issuer: "CN=Superfish\\, Inc.", Class: "blocked", Reason: "blocklist: Superfish VisualDiscovery (2015)", NotAfter: time.Date(2034, 5, 11, 0, 0, 0, 0, time.UTC)}
)

// fleetHosts is how many hosts fillFleet enrolls; the last pending ones
// never report.
const (
	fleetHosts   = 50
	fleetPending = 4
	fleetOffline = 5 // of the reporting hosts, last seen three days ago
)

// genHost builds host i's facts and full report: a mix of Linux, Windows
// and macOS hosts with realistic stores, drift and roots.
func genHost(i int, now time.Time) (api.HostFacts, *api.ReportRequest) {
	oses := []string{"linux", "linux", "linux", "windows", "darwin"}
	os := oses[i%len(oses)]
	name := fmt.Sprintf("ws-%03d.corp.example", i)
	if i%10 == 9 {
		name = fmt.Sprintf("srv-%02d.dc1.corp.example", i/10)
	}
	facts := api.HostFacts{Hostname: name, MachineID: fmt.Sprintf("%032x", i*7919+1), OS: os, Arch: "amd64", AgentVersion: "0.3.1",
		IPs: []string{fmt.Sprintf("10.20.%d.%d", i/200, 10+i%200)}, MACs: []string{fmt.Sprintf("02:42:ac:14:%02x:%02x", i/256, i%256)}}
	type st struct {
		kind                stores.Kind
		path, format, owner string
	}
	var sts []st
	switch os {
	case "linux":
		facts.OSVersion = []string{"Debian GNU/Linux 12 (bookworm)", "Ubuntu 24.04 LTS", "Rocky Linux 9.4"}[i%3]
		sts = []st{{stores.KindSystem, "/etc/ssl/certs/ca-certificates.crt", "pem-bundle", ""},
			{stores.KindNSS, "/home/alice/.mozilla/firefox/x1y2z3.default-release", "sql", "alice"},
			{stores.KindNSS, "/home/alice/.pki/nssdb", "sql", "alice"},
			{stores.KindJava, "/etc/ssl/certs/java/cacerts", "jks", ""},
			{stores.KindFirefox, "/etc/firefox/policies/policies.json", "json", ""}}
	case "windows":
		facts.OSVersion, facts.Arch = "Windows 11 Enterprise 23H2", "amd64"
		sts = []st{{stores.KindWindows, "LocalMachine\\ROOT", "crypt32", ""},
			{stores.KindNSS, "C:\\Users\\bob\\AppData\\Roaming\\Mozilla\\Firefox\\Profiles\\ab12.default-release", "sql", "bob"},
			{stores.KindJava, "C:\\Program Files\\Eclipse Adoptium\\jdk-21\\lib\\security\\cacerts", "pkcs12", ""}}
	case "darwin":
		facts.OSVersion, facts.Arch = "macOS 14.5 Sonoma", "arm64"
		sts = []st{{stores.KindMacOS, "/Library/Keychains/System.keychain", "keychain", ""},
			{stores.KindNSS, "/Users/carol/Library/Application Support/Firefox/Profiles/q9.default-release", "sql", "carol"}}
	}
	rep := &api.ReportRequest{ReportID: fmt.Sprintf("r-%d-1", i), Kind: api.ReportFull, GeneratedAt: now,
		PolicySerial: 42, StateHash: fmt.Sprintf("h-%d", i)}
	if i%3 == 0 {
		rep.PolicySerial = 41
	}
	g2 := caG2
	g2.NotAfter = now.Truncate(24 * time.Hour).Add(400*24*time.Hour + 12*time.Hour)
	rep.CAs = []api.CA{g2}
	if i%4 == 0 { // the retiring CA, three weeks left
		g1 := caG1
		g1.NotAfter = now.Truncate(24 * time.Hour).Add(20*24*time.Hour + 12*time.Hour)
		rep.CAs = append(rep.CAs, g1)
	}
	for _, s := range sts {
		rep.Stores = append(rep.Stores, api.StoreStatus{ID: string(s.kind) + ":" + s.path, Kind: s.kind, Path: s.path, Format: s.format, Owner: s.owner, Status: stores.StatusCompliant})
	}
	set := func(kind stores.Kind, status stores.Status, detail string) {
		for j := range rep.Stores {
			if rep.Stores[j].Kind == kind {
				rep.Stores[j].Status, rep.Stores[j].Detail = status, detail
				return
			}
		}
	}
	ev := func(k int, typ api.EventType, storeKind stores.Kind, detail string) {
		id := ""
		for _, s := range rep.Stores {
			if s.Kind == storeKind {
				id = s.ID
				break
			}
		}
		rep.Events = append(rep.Events, api.Event{ID: fmt.Sprintf("e-%d-%d", i, k), Time: now.Add(-time.Duration(1+(i*7+k*13)%70) * time.Hour),
			Type: typ, StoreID: id, Detail: detail})
	}
	// Drift, deterministic by host number.
	if i%7 == 3 {
		// Agents' strings are untrusted: markup must show as text.
		set(stores.KindNSS, stores.StatusMissing, `CA removed from the profile <img src=x onerror="document.body.dataset.pwned=1">`)
		ev(1, api.EventRemoved, stores.KindNSS, "certificate deleted (profile reset)")
		ev(2, api.EventHealFailed, stores.KindNSS, "certutil: SEC_ERROR_READ_ONLY: the database is read-only")
	} else if i%5 == 1 {
		ev(1, api.EventRemoved, stores.KindNSS, "certificate deleted")
		ev(2, api.EventHealed, stores.KindNSS, "re-installed")
	}
	if i%11 == 5 {
		set(stores.KindJava, stores.StatusUntrusted, "present without the trustedCertEntry attribute")
	}
	if i%13 == 6 {
		set(stores.KindJava, stores.StatusError, "keystore password was incorrect: set java.passwords in the policy")
	}
	if os == "darwin" && i%2 == 0 {
		set(stores.KindMacOS, stores.StatusNeedsMDM, "admin trust settings need user approval: deploy the .mobileconfig through MDM")
	}
	if i%6 == 1 {
		r := rootDebug
		r.StoreIDs = []string{rep.Stores[0].ID}
		rep.UnknownRoots = append(rep.UnknownRoots, r)
		ev(3, api.EventUnknownRoot, rep.Stores[0].Kind, "CN=Acme Debug Proxy Root")
	}
	if i%9 == 2 {
		r := rootDev
		r.StoreIDs = []string{rep.Stores[len(rep.Stores)-1].ID}
		rep.UnknownRoots = append(rep.UnknownRoots, r)
	}
	if i%17 == 8 {
		r := rootSuperf
		r.StoreIDs = []string{rep.Stores[0].ID}
		rep.UnknownRoots = append(rep.UnknownRoots, r)
		rep.Stores[0].Status = stores.StatusBlockedPresent
		ev(4, api.EventBlockedRoot, rep.Stores[0].Kind, "Superfish, Inc.")
	}
	ev(0, api.EventPolicyApplied, "", fmt.Sprintf("serial %d", rep.PolicySerial))
	return facts, rep
}

// fillFleet enrolls fleetHosts hosts through the real API, sends their
// reports, backdates a few to offline and backfills three days of hourly
// compliance snapshots (what a collector running that long recorded).
func fillFleet(t *testing.T, c *servertest.Collector) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	db := c.Store.DB()
	// History first, up to the last hour, as a collector running since
	// then would hold it; this hour's snapshot is recorded by the first
	// enrollment below (the fleet as the hour began: what was backfilled
	// for the last hour is what the collector holds then, an empty fleet
	// here), and the trend ends with the fleet now.
	cur := now.Truncate(time.Hour)
	for h := 72; h >= 1; h-- {
		b := cur.Add(-time.Duration(h) * time.Hour).UnixMilli()
		comp := 10 + (72-h)*17/72 // a rollout: 10 → 27 compliant hosts of 50
		for status, n := range map[api.HostStatus]int{api.HostStatusCompliant: comp, api.HostStatusNoncompliant: 44 - comp, api.HostStatusError: 2, api.HostStatusPending: 4} {
			if _, err := db.ExecContext(ctx, "INSERT INTO compliance_snapshots (bucket, dim, key, status, n) VALUES (?, 'hosts', '', ?, ?)", b, string(status), n); err != nil {
				t.Fatalf("backfill trend: %v", err)
			}
		}
	}
	if err := c.Store.PutPolicy(ctx, 42, []byte("signed policy placeholder")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < fleetHosts; i++ {
		facts, rep := genHost(i, now)
		key, _ := c.Enroll(t, facts)
		if i >= fleetHosts-fleetPending {
			continue
		}
		rep.NodeKey = key
		c.Report(t, rep)
	}
	var offline []any
	for i := fleetHosts - fleetPending - fleetOffline; i < fleetHosts-fleetPending; i++ {
		offline = append(offline, fmt.Sprintf("%032x", i*7919+1))
	}
	q := "UPDATE hosts SET last_seen = ? WHERE machine_id IN (?" + repeat(", ?", len(offline)-1) + ")"
	if _, err := db.ExecContext(ctx, q, append([]any{now.Add(-72 * time.Hour).UnixMilli()}, offline...)...); err != nil {
		t.Fatalf("backdate offline hosts: %v", err)
	}
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

// getJSON reads an API answer with the viewer token.
func getJSON(t *testing.T, c *servertest.Collector, path string, out any) {
	t.Helper()
	code, body := c.Do(t, "GET", path, c.ViewerToken, nil)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}
