package server_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/servertest"
	"github.com/anchorwatch/anchorwatch/stores"
)

// TestReenrollKnownMachineID: anyone holding the fleet-wide enroll secret
// and a host's machine id (world-readable on the host, shown to every
// dashboard viewer) enrolls again with it. That must not take over the
// host's record nor knock the real agent off: the impostor gets a new
// host, flagged, and the real agent's node key keeps working.
func TestReenrollKnownMachineID(t *testing.T) {
	forEachBackend(t, servertest.Options{}, func(t *testing.T, c *servertest.Collector) {
		real := facts("victim")
		key, id := c.Enroll(t, real)
		c.Report(t, report(key, "r-1", stores.StatusCompliant))

		// The impostor: same machine id, the enroll secret, its own facts.
		fake := real
		fake.Hostname, fake.IPs = "victim", []string{"198.51.100.66"}
		fakeKey, fakeID := c.Enroll(t, fake)
		if fakeID == id {
			t.Fatalf("re-enrolling machine id %q without the host's key took over host %d", real.MachineID, id)
		}
		// The real agent is not knocked off.
		code, body := c.Do(t, "POST", api.PathReport, "", report(key, "r-2", stores.StatusCompliant))
		if code != 200 {
			t.Fatalf("the real agent's node key after the impostor enrolled: %d %s", code, body)
		}
		// The impostor's host is flagged, in the API, with an event on both.
		code, body = c.Do(t, "GET", fmt.Sprintf("%s/%d?events=10", api.PathHosts, fakeID), c.ViewerToken, nil)
		if code != 200 {
			t.Fatalf("flagged host: %d %s", code, body)
		}
		fh := decode[api.HostDetail](t, body)
		if fh.Status == "" || fh.MachineID != real.MachineID {
			t.Fatalf("flagged host: %+v", fh.HostSummary)
		}
		if v := fmt.Sprint(decode[map[string]any](t, body)["conflict_of"]); v != fmt.Sprint(id) {
			t.Errorf("flagged host: conflict_of %s, want %d", v, id)
		}
		hasConflictEvent := func(d api.HostDetail) bool {
			for _, e := range d.Events {
				if e.Type == api.EventEnrollConflict {
					return true
				}
			}
			return false
		}
		if !hasConflictEvent(fh) {
			t.Errorf("flagged host has no enroll-conflict event: %+v", fh.Events)
		}
		_, body = c.Do(t, "GET", fmt.Sprintf("%s/%d?events=10", api.PathHosts, id), c.ViewerToken, nil)
		if rh := decode[api.HostDetail](t, body); !hasConflictEvent(rh) || rh.Hostname != "victim" || len(rh.Stores) != 1 {
			t.Errorf("the real host: %+v, events %+v", rh.HostSummary, rh.Events)
		}
		// The impostor's node key writes only its own (flagged) host.
		c.Report(t, report(fakeKey, "f-1", stores.StatusMissing))
		_, body = c.Do(t, "GET", fmt.Sprintf("%s/%d", api.PathHosts, id), c.ViewerToken, nil)
		if rh := decode[api.HostDetail](t, body); rh.Status != api.HostStatusCompliant {
			t.Errorf("the real host changed by the impostor's report: %s", rh.Status)
		}
	})
}

// keyedEnroll builds an enrollment of f signed with k at time at.
func keyedEnroll(t *testing.T, secret string, f api.HostFacts, k ed25519.PrivateKey, at time.Time) api.EnrollRequest {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	hk := base64.StdEncoding.EncodeToString(der)
	n := make([]byte, 16)
	rand.Read(n)
	nonce := hex.EncodeToString(n)
	sig := ed25519.Sign(k, api.EnrollMessage(f.MachineID, hk, at, nonce))
	return api.EnrollRequest{EnrollSecret: secret, Host: f, HostKey: hk,
		Proof: &api.EnrollProof{Time: at, Nonce: nonce, Signature: base64.StdEncoding.EncodeToString(sig)}}
}

func newEd25519(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestHostKeyProof: the collector checks the proof of the host key: a
// proof that does not verify, is stale, is replayed, or uses another
// kind of key is refused (401 enroll_proof_invalid) and writes nothing; a
// good one re-enrolls the host it is bound to, also after an
// administrator revoked its node key; the admin merges a re-imaged host
// and retires an impostor through the API (viewers may not).
func TestHostKeyProof(t *testing.T) {
	forEachBackend(t, servertest.Options{}, func(t *testing.T, c *servertest.Collector) {
		f := facts("pc")
		k := newEd25519(t)
		enroll := func(req api.EnrollRequest) (int, []byte) { return c.Do(t, "POST", api.PathEnroll, "", req) }
		code, body := enroll(keyedEnroll(t, c.EnrollSecret, f, k, time.Now()))
		if code != 200 {
			t.Fatalf("keyed enrollment: %d %s", code, body)
		}
		first := decode[api.EnrollResponse](t, body)

		refused := func(name string, req api.EnrollRequest, want string) {
			t.Helper()
			code, body := enroll(req)
			if code != 401 || errCode(t, body) != api.ErrProofInvalid || !strings.Contains(string(body), want) {
				t.Errorf("%s: %d %s, want 401 %s saying %q", name, code, body, api.ErrProofInvalid, want)
			}
		}
		bad := keyedEnroll(t, c.EnrollSecret, f, k, time.Now())
		bad.Host.MachineID = "mid-other" // signed for mid-pc
		refused("signature over another machine id", bad, "does not verify")
		refused("stale", keyedEnroll(t, c.EnrollSecret, f, k, time.Now().Add(-10*time.Minute)), "from the collector's clock")
		refused("from the future", keyedEnroll(t, c.EnrollSecret, f, k, time.Now().Add(10*time.Minute)), "from the collector's clock")
		noProof := keyedEnroll(t, c.EnrollSecret, f, k, time.Now())
		noProof.Proof = nil
		refused("no proof", noProof, "without a proof")
		replay := keyedEnroll(t, c.EnrollSecret, f, k, time.Now())
		if code, body := enroll(replay); code != 200 {
			t.Fatalf("proven re-enrollment: %d %s", code, body)
		}
		refused("replayed", replay, "already used")
		rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
		rsaDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
		other := keyedEnroll(t, c.EnrollSecret, f, k, time.Now())
		other.HostKey = base64.StdEncoding.EncodeToString(rsaDER)
		refused("an RSA host key", other, "Ed25519")
		// Only the proven re-enrollment above re-keyed the host.
		code, body = enroll(keyedEnroll(t, c.EnrollSecret, f, k, time.Now()))
		cur := decode[api.EnrollResponse](t, body)
		if code != 200 || cur.HostID != first.HostID || cur.Conflict != "" {
			t.Fatalf("with its key: %d %s", code, body)
		}
		var hl api.HostList
		_, body = c.Do(t, "GET", api.PathHosts, c.ViewerToken, nil)
		if hl = decode[api.HostList](t, body); len(hl.Hosts) != 1 || !hl.Hosts[0].KeyBound {
			t.Fatalf("hosts after refused proofs: %+v", hl.Hosts)
		}

		// The admin revokes the node key; the host key brings the host back.
		path := fmt.Sprintf("%s/%d", api.PathHosts, first.HostID)
		if code, _ := c.Do(t, "POST", path+"/revoke-node-key", c.ViewerToken, nil); code != 403 {
			t.Errorf("a viewer revoking a node key: %d, want 403", code)
		}
		if code, body := c.Do(t, "POST", path+"/revoke-node-key", c.AdminToken, nil); code != 204 {
			t.Fatalf("revoke node key: %d %s", code, body)
		}
		if code, body := c.Do(t, "POST", api.PathReport, "", report(cur.NodeKey, "x-1", stores.StatusCompliant)); code != 401 || errCode(t, body) != api.ErrNodeInvalid {
			t.Fatalf("a revoked node key: %d %s", code, body)
		}
		code, body = enroll(keyedEnroll(t, c.EnrollSecret, f, k, time.Now()))
		if back := decode[api.EnrollResponse](t, body); code != 200 || back.HostID != first.HostID {
			t.Fatalf("re-enrollment after revocation: %d %s", code, body)
		}

		// Re-imaged (state lost, new key): flagged; the admin merges it.
		code, body = enroll(keyedEnroll(t, c.EnrollSecret, f, newEd25519(t), time.Now()))
		img := decode[api.EnrollResponse](t, body)
		if code != 200 || img.HostID == first.HostID || img.Conflict == "" {
			t.Fatalf("re-imaged host: %d %s", code, body)
		}
		_, body = c.Do(t, "GET", api.PathSummary, c.ViewerToken, nil)
		if s := decode[api.FleetSummary](t, body); s.Flagged != 1 {
			t.Errorf("summary: %d flagged, want 1", s.Flagged)
		}
		_, body = c.Do(t, "GET", api.PathHosts+"?flagged=true", c.ViewerToken, nil)
		if hl = decode[api.HostList](t, body); len(hl.Hosts) != 1 || hl.Hosts[0].ID != img.HostID {
			t.Errorf("?flagged=true: %+v", hl.Hosts)
		}
		code, body = c.Do(t, "POST", fmt.Sprintf("%s/%d/merge", api.PathHosts, img.HostID), c.AdminToken, nil)
		if code != 200 || decode[api.HostMerged](t, body).MergedInto != first.HostID {
			t.Fatalf("merge: %d %s", code, body)
		}
		c.Report(t, report(img.NodeKey, "m-1", stores.StatusCompliant))
		if code, _ := c.Do(t, "POST", fmt.Sprintf("%s/%d/merge", api.PathHosts, first.HostID), c.AdminToken, nil); code != 409 {
			t.Errorf("merging an unflagged host: %d, want 409", code)
		}

		// An impostor without a key: flagged; the admin retires it.
		code, body = enroll(api.EnrollRequest{EnrollSecret: c.EnrollSecret, Host: f})
		imp := decode[api.EnrollResponse](t, body)
		if code != 200 || imp.Conflict == "" {
			t.Fatalf("impostor: %d %s", code, body)
		}
		if code, body := c.Do(t, "DELETE", fmt.Sprintf("%s/%d", api.PathHosts, imp.HostID), c.AdminToken, nil); code != 204 {
			t.Fatalf("retire: %d %s", code, body)
		}
		if code, _ := c.Do(t, "POST", api.PathReport, "", report(imp.NodeKey, "i-1", stores.StatusCompliant)); code != 401 {
			t.Errorf("a retired host's node key: %d, want 401", code)
		}
		if code, _ := c.Do(t, "GET", fmt.Sprintf("%s/%d", api.PathHosts, imp.HostID), c.ViewerToken, nil); code != 404 {
			t.Errorf("a retired host: %d, want 404", code)
		}
	})
}

// TestPolicyUploadExpired: the collector refuses to serve a policy past
// its not_after (agents would refuse it), and warns of one without.
func TestPolicyUploadExpired(t *testing.T) {
	c := servertest.StartCollector(t, servertest.Options{})
	expired := signPolicyDoc(t, fmt.Sprintf(`{"serial": 3, "not_after": %q, "anchors": []}`, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)))
	if code, body := c.Do(t, "PUT", api.PathPolicy, c.AdminToken, expired); code != 400 || !strings.Contains(string(body), "expired") {
		t.Errorf("expired policy upload: %d %s, want 400 saying expired", code, body)
	}
	if code, body := c.Do(t, "PUT", api.PathPolicy, c.AdminToken, signPolicyDoc(t, `{"serial": 4, "anchors": []}`)); code != 200 || !strings.Contains(string(body), "no not_after") {
		t.Errorf("policy without not_after: %d %s, want 200 with a warning", code, body)
	}
}
