package agent

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/policy/policytest"
	"github.com/anchorwatch/anchorwatch/stores"
)

// rawPolicy signs a policy document as it is (policytest.Raw).
func rawPolicy(t testing.TB, doc map[string]any, signer *x509.Certificate, key crypto.Signer) []byte {
	t.Helper()
	b, _ := json.Marshal(doc)
	return policytest.Raw(t, b, signer, key)
}

func rejectedWith(evs []api.Event, text string) bool {
	for _, e := range evs {
		if e.Type == api.EventPolicyRejected && strings.Contains(e.Detail, text) {
			return true
		}
	}
	return false
}

// TestAgentRefusesReplayedPolicy: a fresh agent (no policy held, serial
// 0) whose collector replays old signed policies — one signed before
// policies carried not_after, one past its not_after, one below the
// installer's min_policy_serial — refuses each, installs nothing and
// reports it; then takes a valid one.
func TestAgentRefusesReplayedPolicy(t *testing.T) {
	sb := newSandbox(t)
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	old := testpki.NewCA(t, "Removed Interception CA").Cert
	ca := testpki.NewCA(t, "Corp Interception CA").Cert
	anchors := func(c *x509.Certificate) []any { return []any{map[string]any{"pem": string(testpki.PEM(c))}} }
	coll := startCollector(t)
	// Valid, but below the floor the installer gave the agent.
	coll.upload(signedPolicy(t, 3, signer, key, nil, old))
	h := startAgentWith(t, sb, coll, signer, agentOpts{extra: map[string]any{"min_policy_serial": 4}}, stores.KindJava)
	waitFor(t, "serial 3 refused under min_policy_serial 4", func() bool { return rejectedWith(coll.events(), "min_policy_serial") })

	// The organization removed this CA long ago; the policy never expired.
	coll.plant(10, rawPolicy(t, map[string]any{"serial": 10, "anchors": anchors(old)}, signer, key))
	h.poke()
	waitFor(t, "the policy without not_after refused", func() bool { return rejectedWith(coll.events(), "no not_after") })

	coll.plant(11, rawPolicy(t, map[string]any{"serial": 11, "anchors": anchors(old),
		"not_after": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}, signer, key))
	h.poke()
	waitFor(t, "the expired policy refused", func() bool { return rejectedWith(coll.events(), "expired") })
	if javaHas(t, sb, stores.Label(old)) {
		t.Fatal("a refused policy installed its CA")
	}
	st, err := ReadStatus(h.stateDir)
	if err != nil || st.PolicySerial != 0 || st.PolicyProblem == "" {
		t.Errorf("status: serial %d, problem %q, %v", st.PolicySerial, st.PolicyProblem, err)
	}

	coll.upload(signedPolicy(t, 12, signer, key, nil, ca))
	h.poke()
	waitFor(t, "serial 12 applied", func() bool { return countEvents(coll.events(), api.EventInstalled, "java:", stores.SHA256(ca)) == 1 })
	if javaHas(t, sb, stores.Label(old)) || !javaHas(t, sb, stores.Label(ca)) {
		t.Fatal("the JKS should hold serial 12's CA only")
	}
}

// TestAgentPolicyExpiresInForce: the policy an agent holds expires. It
// warns first (policy-expiring), then reports policy-expired, keeps
// enforcing it (the CA stays and is healed), and says so in its status;
// after a restart the expired policy is still in force.
func TestAgentPolicyExpiresInForce(t *testing.T) {
	sb := newSandbox(t)
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	ca := testpki.NewCA(t, "Corp Interception CA").Cert
	coll := startCollector(t)
	notAfter := time.Now().Add(4 * time.Second).UTC().Truncate(time.Second).Add(time.Second)
	// Sign refuses a lifetime this short: sign it raw.
	coll.upload(rawPolicy(t, map[string]any{"serial": 1, "anchors": []any{map[string]any{"pem": string(testpki.PEM(ca))}},
		"not_after": notAfter.Format(time.RFC3339)}, signer, key))
	h := startAgent(t, sb, coll, signer, stores.KindJava)
	fp := stores.SHA256(ca)
	waitFor(t, "installed, and the expiry warned of", func() bool {
		evs := coll.events()
		return countEvents(evs, api.EventInstalled, "java:", fp) == 1 && countEvents(evs, api.EventPolicyExpiring, "", "") == 1
	})
	waitFor(t, "policy-expired reported", func() bool { return countEvents(coll.events(), api.EventPolicyExpired, "", "") == 1 })
	if !javaHas(t, sb, stores.Label(ca)) {
		t.Fatal("the CA was removed when the policy expired")
	}
	waitFor(t, "status says expired", func() bool {
		b, _ := os.ReadFile(filepath.Join(h.stateDir, fileStatus))
		return strings.Contains(string(b), `"policy_state": "expired"`) && strings.Contains(string(b), notAfter.Format(time.RFC3339))
	})
	// Still enforced: a deletion is healed.
	out, err := runKeytoolDelete(sb, stores.Label(ca))
	if err != nil {
		t.Fatalf("keytool -delete: %v\n%s", err, out)
	}
	waitFor(t, "healed under the expired policy", func() bool { return countEvents(coll.events(), api.EventHealed, "java:", fp) == 1 })

	// A restart keeps the expired policy in force and reports it again.
	h.stop()
	h2 := startAgentWith(t, sb, coll, signer, agentOpts{seed: func(string) {}, stateDir: h.stateDir}, stores.KindJava)
	waitFor(t, "policy-expired reported after the restart", func() bool { return countEvents(coll.events(), api.EventPolicyExpired, "", "") == 2 })
	st, err := ReadStatus(h2.stateDir)
	if err != nil || st.PolicySerial != 1 || !javaHas(t, sb, stores.Label(ca)) {
		t.Errorf("after the restart: status serial %d, %v; the CA must stay", st.PolicySerial, err)
	}
}

func runKeytoolDelete(sb sandbox, alias string) ([]byte, error) {
	return exec.Command(sb.keytool, "-delete", "-keystore", sb.javaKS, "-storepass", "changeit", "-alias", alias).CombinedOutput()
}
