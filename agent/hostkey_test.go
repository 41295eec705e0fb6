package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/api/client"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

// hosts lists every host the collector holds.
func (c *collector) hosts() []api.HostSummary {
	c.t.Helper()
	var hl api.HostList
	c.get(api.PathHosts, &hl)
	return hl.Hosts
}

func (c *collector) hostByID(id int64) api.HostDetail {
	c.t.Helper()
	var d api.HostDetail
	c.get(fmt.Sprintf("%s/%d?events=1000", api.PathHosts, id), &d)
	return d
}

// TestAgentHostKey runs the real agent against the real collector on a
// host whose machine id is world-readable (/etc/machine-id). It binds the
// host to a key pair at its first enrollment; an impostor enrolling that
// machine id with the enroll secret gets a new, flagged host and the agent
// keeps reporting on its own; when an administrator revokes its node key
// it re-enrolls onto its host with the key; re-imaged (state directory
// lost) it shows as a new flagged host, which the administrator merges.
func TestAgentHostKey(t *testing.T) {
	sb := newSandbox(t)
	const machineID = "5f0c8e1f9a4b4d2e8c3b7a6d5e4f3a2b"
	writeMachineID(t, sb, machineID)
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	ca := testpki.NewCA(t, "Corp Interception CA").Cert
	coll := startCollector(t)
	coll.upload(signedPolicy(t, 1, signer, key, nil, ca))
	h := startAgent(t, sb, coll, signer, stores.KindJava)
	waitFor(t, "enrolled and compliant", func() bool { return allCompliant(coll.host(), 1) })
	id := coll.hostID()
	if d := coll.host(); !d.KeyBound || d.MachineID != machineID {
		t.Fatalf("host: key bound %v, machine id %q", d.KeyBound, d.MachineID)
	}
	if fi, err := os.Stat(filepath.Join(h.stateDir, fileHostKey)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key file: %v %v, want mode 0600", fi, err)
	}

	// The impostor: the machine id and the enroll secret.
	code, body := coll.Do(t, http.MethodPost, api.PathEnroll, "", api.EnrollRequest{EnrollSecret: coll.EnrollSecret,
		Host: api.HostFacts{Hostname: "evil", MachineID: machineID, OS: "linux"}})
	if code != http.StatusOK {
		t.Fatalf("impostor enrollment: %d %s", code, body)
	}
	// The real agent still reports onto its host: a drift and its heal.
	label := stores.Label(ca)
	if out, err := runKeytoolDelete(sb, label); err != nil {
		t.Fatalf("keytool -delete: %v\n%s", err, out)
	}
	waitFor(t, "the heal reported on the real host", func() bool {
		return countEvents(hostEvents(coll.hostByID(id)), api.EventHealed, "java:", stores.SHA256(ca)) == 1
	})
	var flagged api.HostSummary
	for _, hs := range coll.hosts() {
		if hs.ID != id {
			flagged = hs
		}
	}
	if flagged.ConflictOf != id || flagged.Hostname != "evil" {
		t.Fatalf("impostor's host: %+v", flagged)
	}

	// Node key revoked by the administrator: back onto the same host.
	if code, body := coll.Do(t, http.MethodPost, fmt.Sprintf("%s/%d/revoke-node-key", api.PathHosts, id), coll.AdminToken, nil); code != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", code, body)
	}
	h.poke()
	waitFor(t, "re-enrolled onto its host", func() bool {
		return countEvents(hostEvents(coll.hostByID(id)), api.EventNodeKeyRevoked, "", "") == 1 && len(coll.hosts()) == 2 &&
			nodeKeyWorks(t, coll, h.stateDir)
	})

	// Re-imaged: the state directory is lost, the machine id stays.
	h.stop()
	if err := os.RemoveAll(h.stateDir); err != nil {
		t.Fatal(err)
	}
	h2 := startAgentWith(t, sb, coll, signer, agentOpts{stateDir: h.stateDir}, stores.KindJava)
	var img api.HostSummary
	waitFor(t, "the re-imaged host enrolled, flagged", func() bool {
		for _, hs := range coll.hosts() {
			if hs.ID != id && hs.ID != flagged.ID {
				img = hs
			}
		}
		st, err := ReadStatus(h2.stateDir)
		return img.ID != 0 && err == nil && st.EnrollConflict != ""
	})
	if img.ConflictOf != id {
		t.Fatalf("re-imaged host: %+v", img)
	}
	var merged api.HostMerged
	code, body = coll.Do(t, http.MethodPost, fmt.Sprintf("%s/%d/merge", api.PathHosts, img.ID), coll.AdminToken, nil)
	if code != http.StatusOK {
		t.Fatalf("merge: %d %s", code, body)
	}
	if err := json.Unmarshal(body, &merged); err != nil {
		t.Fatal(err)
	}
	if merged.MergedInto != id {
		t.Fatalf("merged into %d, want %d", merged.MergedInto, id)
	}
	// The agent goes on reporting onto the original host.
	if out, err := runKeytoolDelete(sb, label); err != nil {
		t.Fatalf("keytool -delete: %v\n%s", err, out)
	}
	waitFor(t, "the heal after the merge reported on the original host", func() bool {
		return countEvents(hostEvents(coll.hostByID(id)), api.EventHealed, "java:", stores.SHA256(ca)) >= 2
	})
}

// nodeKeyWorks reports whether the node key in stateDir is one the
// collector accepts.
func nodeKeyWorks(t *testing.T, coll *collector, stateDir string) bool {
	b, err := os.ReadFile(filepath.Join(stateDir, fileNodeKey))
	if err != nil {
		return false
	}
	req, _ := http.NewRequest(http.MethodGet, coll.URL+api.PathPolicy, nil)
	req.Header.Set(client.NodeKeyHeader, strings.TrimSpace(string(b)))
	resp, err := coll.Client().Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func hostEvents(d api.HostDetail) []api.Event {
	out := make([]api.Event, 0, len(d.Events))
	for _, e := range d.Events {
		out = append(out, e.Event)
	}
	return out
}

// TestAgentBindsLegacyHost: an agent upgraded from a version without host
// keys holds a node key and no host key; it binds a new host key to its
// own host (its node key proving which one) instead of being flagged.
func TestAgentBindsLegacyHost(t *testing.T) {
	sb := newSandbox(t)
	const machineID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	writeMachineID(t, sb, machineID)
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	coll := startCollector(t)
	coll.upload(signedPolicy(t, 1, signer, key, nil, testpki.NewCA(t, "Corp Interception CA").Cert))
	// The old agent's enrollment: no host key.
	nodeKey, id := coll.Enroll(t, api.HostFacts{Hostname: "old", MachineID: machineID, OS: "linux"})
	h := startAgentWith(t, sb, coll, signer, agentOpts{seed: func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, fileNodeKey), []byte(nodeKey+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}}, stores.KindJava)
	waitFor(t, "the host key bound to the same host", func() bool {
		hs := coll.hosts()
		return len(hs) == 1 && hs[0].ID == id && hs[0].KeyBound && allCompliant(coll.host(), 1)
	})
	if st, err := ReadStatus(h.stateDir); err != nil || st.EnrollConflict != "" {
		t.Errorf("status: %+v %v", st, err)
	}
}

// TestClientLearnsCollectorClock: an agent whose clock is 10 minutes off
// has its first keyed enrollment refused as stale; the answer's Date
// header teaches it the collector's time, and the retry is accepted.
func TestClientLearnsCollectorClock(t *testing.T) {
	coll := startCollector(t)
	fp, _ := stores.NormalizeSHA256(coll.Fingerprint)
	// Our clock runs 10 minutes late.
	late := func() time.Time { return time.Now().Add(-10 * time.Minute) }
	cl, err := client.New(client.Config{URL: coll.URL, Fingerprint: fp, Clock: late})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	st, err := openStateDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	hk, err := st.ensureHostKey()
	if err != nil {
		t.Fatal(err)
	}
	req := client.EnrollRequest{Secret: coll.EnrollSecret, Facts: api.HostFacts{Hostname: "skewed", MachineID: "m-skewed", OS: "linux"}, HostKey: hk}
	_, err = cl.Enroll(context.Background(), req)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Code != api.ErrProofInvalid {
		t.Fatalf("enrollment 10 minutes off: %v, want %s", err, api.ErrProofInvalid)
	}
	if resp, err := cl.Enroll(context.Background(), req); err != nil || resp.NodeKey == "" {
		t.Fatalf("retry with the collector's clock: %+v %v", resp, err)
	}
}

// writeMachineID gives the sandbox a world-readable /etc/machine-id, as
// every systemd host has.
func writeMachineID(t *testing.T, sb sandbox, id string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(sb.root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sb.root, "etc/machine-id"), []byte(id+"\n"), 0o444); err != nil {
		t.Fatal(err)
	}
}
