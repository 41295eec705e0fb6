package agent

import (
	"fmt"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/pki"
	"github.com/anchorwatch/anchorwatch/pki/pkitest"
	"github.com/anchorwatch/anchorwatch/stores"
)

// TestReachReport: a real agent probes the CDPs and OCSP responders of
// its policy's CAs (a PKI made with openssl ca, the CRL on a local HTTP
// server, openssl ocsp answering; a second CA whose CRL is missing and
// whose responder is down) and the real collector shows, through its
// dashboard API, which endpoints the host cannot reach and why.
func TestReachReport(t *testing.T) {
	p := pkitest.New(t)
	p.StartResponder(t, p.Root)
	down := pkitest.FreePort(t)
	broken := p.Issue(t, p.Root, "broken", "/CN=Inspection CA with a broken PKI",
		p.InterExt(p.URL("missing.crl"), fmt.Sprintf("http://127.0.0.1:%d", down)))
	sb := newSandbox(t)
	coll := startCollector(t)
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	coll.upload(signedPolicy(t, 1, signer, key, nil, p.Root.Cert, p.Inter.Cert, broken.Cert))
	startAgentWith(t, sb, coll, signer, agentOpts{extra: map[string]any{"reach_interval": "300ms"}}, stores.KindNSS)

	var list api.ReachList
	waitFor(t, "the collector to show four endpoints", func() bool {
		coll.get(api.PathPKIReach, &list)
		return len(list.Endpoints) == 4
	})
	byURL := map[string]api.ReachEndpoint{}
	for _, e := range list.Endpoints {
		byURL[e.Kind+" "+e.URL] = e
		if e.Hosts != 1 {
			t.Errorf("%s %s: %d hosts, want the one agent", e.Kind, e.URL, e.Hosts)
		}
	}
	for _, want := range []struct {
		kind, url, detail string
		failing           int64
	}{
		{pki.KindCRL, p.URL("root.crl"), "", 0},
		{pki.KindOCSP, fmt.Sprintf("http://127.0.0.1:%d", p.Root.OCSPPort), "", 0},
		{pki.KindCRL, p.URL("missing.crl"), "HTTP 404 Not Found", 1},
		{pki.KindOCSP, fmt.Sprintf("http://127.0.0.1:%d", down), "connection refused", 1},
	} {
		e, ok := byURL[want.kind+" "+want.url]
		if !ok {
			t.Errorf("no %s %s in %+v", want.kind, want.url, list.Endpoints)
			continue
		}
		if e.Failing != want.failing {
			t.Errorf("%s %s: %d failing, want %d", want.kind, want.url, e.Failing, want.failing)
		}
		// The host counts in the subnet of each of its addresses.
		if want.failing > 0 && len(e.Subnets) == 0 {
			t.Errorf("%s %s: no failing subnet", want.kind, want.url)
		}
		for _, sn := range e.Subnets {
			if sn.Detail != want.detail || sn.Failing != 1 || sn.Hosts != 1 {
				t.Errorf("%s %s: subnet %+v, want the host failing with %q", want.kind, want.url, sn, want.detail)
			}
		}
	}
	if list.Endpoints[0].Failing != 1 || list.Endpoints[3].Failing != 0 {
		t.Errorf("failing endpoints are not listed first: %+v", list.Endpoints)
	}
}
