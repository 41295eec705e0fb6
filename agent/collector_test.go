package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/api/client"
	"github.com/anchorwatch/anchorwatch/server"
	"github.com/anchorwatch/anchorwatch/server/servertest"
)

// The agent's tests run against the real collector (server/servertest:
// SQLite, TLS with a self-signed certificate the agent pins) and read
// what arrived through its dashboard API, as an operator would. The one
// stand-in is cutProxy, a TCP forwarder that simulates a network outage
// between agent and collector; the TLS session still ends at the real
// collector.

// collector is a real collector for one test.
type collector struct {
	*servertest.Collector
	t testing.TB
}

func startCollector(t testing.TB) *collector {
	t.Helper()
	return &collector{Collector: servertest.StartCollector(t, servertest.Options{}), t: t}
}

// upload publishes a signed policy through the admin API, as
// `anchorwatch collector policy upload` would; the collector must accept it.
func (c *collector) upload(blob []byte) {
	c.t.Helper()
	code, body := c.Do(c.t, http.MethodPut, api.PathPolicy, c.AdminToken, blob)
	if code != http.StatusOK {
		c.t.Fatalf("PUT %s: %d %s", api.PathPolicy, code, body)
	}
}

// plant stores a blob as the served policy directly in the collector's
// database, bypassing the upload checks: a compromised collector serving
// whatever it likes (unsigned, tampered, replayed).
func (c *collector) plant(serial int64, blob []byte) {
	c.t.Helper()
	if err := c.Store.PutPolicy(context.Background(), serial, blob); err != nil {
		c.t.Fatal(err)
	}
}

// get decodes a dashboard API answer (viewer token).
func (c *collector) get(path string, out any) {
	c.t.Helper()
	code, body := c.Do(c.t, http.MethodGet, path, c.ViewerToken, nil)
	if code != http.StatusOK {
		c.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
}

// hostID returns the id of the only enrolled host, 0 before enrollment.
func (c *collector) hostID() int64 {
	c.t.Helper()
	var hl api.HostList
	c.get(api.PathHosts, &hl)
	switch len(hl.Hosts) {
	case 0:
		return 0
	case 1:
		return hl.Hosts[0].ID
	}
	c.t.Fatalf("%d hosts enrolled, want one", len(hl.Hosts))
	return 0
}

// host returns the host detail the dashboard shows.
func (c *collector) host() api.HostDetail {
	c.t.Helper()
	var d api.HostDetail
	id := c.hostID()
	if id == 0 {
		return d
	}
	c.get(fmt.Sprintf("%s/%d?events=1", api.PathHosts, id), &d)
	return d
}

// events returns every event the collector stored, oldest first, read
// page by page through GET /api/v1/events.
func (c *collector) events() []api.Event {
	c.t.Helper()
	var out []api.Event
	cursor := ""
	for {
		q := url.Values{"limit": {"200"}, "order": {"asc"}} // in the order they happened
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page api.EventList
		c.get(api.PathEvents+"?"+q.Encode(), &page)
		for _, e := range page.Events {
			out = append(out, e.Event)
		}
		if page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
}

// storedOnce fails t unless every event the agent emitted is stored at
// the collector exactly once and the collector holds no other event.
func storedOnce(t testing.TB, local, remote []api.Event) {
	t.Helper()
	n := map[string]int{}
	for _, e := range remote {
		n[e.ID]++
	}
	for _, e := range local {
		if n[e.ID] != 1 {
			t.Errorf("event %s (%s %s) stored %d times at the collector, want 1", e.ID, e.Type, e.StoreID, n[e.ID])
		}
		delete(n, e.ID)
	}
	for id, k := range n {
		t.Errorf("collector holds event %s (%d times) the agent never emitted", id, k)
	}
}

func TestNodeKeyHeaderMatchesCollector(t *testing.T) {
	if client.NodeKeyHeader != server.NodeKeyHeader {
		t.Fatalf("agent sends the node key in %q, the collector reads %q", client.NodeKeyHeader, server.NodeKeyHeader)
	}
}

// cutProxy forwards TCP connections to a collector and can cut them all,
// as a network outage would.
type cutProxy struct {
	l      net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
}

func newCutProxy(t testing.TB, target string) *cutProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, target: u.Host, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() { l.Close(); p.setDown(true) })
	return p
}

// URL is the collector's URL through the proxy.
func (p *cutProxy) URL() string { return "https://" + p.l.Addr().String() }

func (p *cutProxy) setDown(d bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = d
	if d {
		for c := range p.conns {
			c.Close()
		}
	}
}

func (p *cutProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	p.conns[c] = true
	return true
}

func (p *cutProxy) forget(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *cutProxy) serve() {
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		go func() {
			if !p.track(in) {
				in.Close() // the outage: connection accepted, then dropped
				return
			}
			defer p.forget(in)
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				return
			}
			if !p.track(out) {
				out.Close()
				return
			}
			defer p.forget(out)
			done := make(chan struct{}, 2)
			go func() { io.Copy(out, in); done <- struct{}{} }()
			go func() { io.Copy(in, out); done <- struct{}{} }()
			<-done
		}()
	}
}
