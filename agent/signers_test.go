package agent

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/stores"
)

func readPins(t testing.TB, stateDir string) pinsFile {
	t.Helper()
	var f pinsFile
	b, err := os.ReadFile(filepath.Join(stateDir, fileSigners))
	if err == nil {
		err = json.Unmarshal(b, &f)
	}
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func pinnedAre(f pinsFile, pinned, next []*x509.Certificate) bool {
	return strings.Join(f.Pinned, "") == strings.Join(pemList(pinned), "") && strings.Join(f.Next, "") == strings.Join(pemList(next), "")
}

// TestAgentSignerRotation: the policy signer rotates without touching
// the host. Serial 1, signed by A (pinned at install), names B in
// next_signers; the agent accepts serial 2 signed by B, pins B and drops
// A: a later policy A signed is refused, across a restart too. A
// compromised collector cannot add a signer: next_signers is signed
// content (a planted edit is tampering), and a policy by an unknown key
// naming itself is refused.
func TestAgentSignerRotation(t *testing.T) {
	sb := newSandbox(t)
	a, aKey := testpki.SelfSigned(t, "Policy Signer A")
	b, bKey := testpki.SelfSigned(t, "Policy Signer B")
	x, xKey := testpki.SelfSigned(t, "Attacker")
	ca := testpki.NewCA(t, "Corp Interception CA").Cert
	ca2 := testpki.NewCA(t, "Corp Interception CA 2").Cert
	evil := testpki.NewCA(t, "Evil CA").Cert
	coll := startCollector(t)
	coll.upload(signedPolicy(t, 1, a, aKey, map[string]any{"next_signers": []string{string(testpki.PEM(b))}}, ca))
	h := startAgent(t, sb, coll, a, stores.KindJava)
	waitFor(t, "serial 1 applied", func() bool { return countEvents(h.rec.all(), api.EventPolicyApplied, "", "") == 1 })
	if f := readPins(t, h.stateDir); !pinnedAre(f, []*x509.Certificate{a}, []*x509.Certificate{b}) {
		t.Fatalf("after serial 1: pins %+v", f)
	}

	// The collector plants serial 2 signed by the attacker, naming
	// itself; then serial 1 with next_signers edited to the attacker.
	coll.plant(2, signedPolicy(t, 2, x, xKey, map[string]any{"next_signers": []string{string(testpki.PEM(x))}}, ca, evil))
	h.poke()
	waitFor(t, "the attacker's policy refused", func() bool { return rejectedWith(coll.events(), "not signed by the pinned signer") })
	one := signedPolicy(t, 3, a, aKey, map[string]any{"next_signers": []string{string(testpki.PEM(b))}}, ca)
	edited := bytes.Replace(one, testpki.PEM(b)[30:90], testpki.PEM(x)[30:90], 1)
	if bytes.Equal(edited, one) {
		t.Fatal("the edit did not change the blob")
	}
	coll.plant(3, edited)
	h.poke()
	waitFor(t, "the edited policy refused", func() bool { return rejectedWith(coll.events(), "policy signature does not match") })
	if javaHas(t, sb, stores.Label(evil)) {
		t.Fatal("the attacker's CA was installed")
	}

	// B signs serial 4: accepted; B is pinned, A dropped.
	coll.upload(signedPolicy(t, 4, b, bKey, nil, ca, ca2))
	h.poke()
	waitFor(t, "serial 4 by B applied", func() bool { return countEvents(h.rec.all(), api.EventInstalled, "java:", stores.SHA256(ca2)) == 1 })
	if f := readPins(t, h.stateDir); !pinnedAre(f, []*x509.Certificate{b}, nil) {
		t.Fatalf("after serial 4: pins %+v", f)
	}
	coll.upload(signedPolicy(t, 5, a, aKey, nil, ca))
	h.poke()
	waitFor(t, "serial 5 by the old signer refused", func() bool {
		return rejectedWith(coll.events(), `signed by "CN=Policy Signer A,O=Anchorwatch test"`)
	})

	// A restart keeps B: the stored policy re-verifies, A stays refused.
	h.stop()
	h2 := startAgentWith(t, sb, coll, a, agentOpts{seed: func(string) {}, stateDir: h.stateDir}, stores.KindJava)
	coll.upload(signedPolicy(t, 6, a, aKey, nil, ca))
	h2.poke()
	waitFor(t, "serial 6 by A refused after the restart", func() bool {
		return countEvents(h2.rec.all(), api.EventPolicyRejected, "", "") >= 1
	})
	st, err := ReadStatus(h2.stateDir)
	if err != nil || st.PolicySerial != 4 {
		t.Fatalf("after the restart: serial %d, %v", st.PolicySerial, err)
	}
	coll.upload(signedPolicy(t, 7, b, bKey, nil, ca))
	h2.poke()
	waitFor(t, "serial 7 by B applied after the restart", func() bool {
		st, _ := ReadStatus(h2.stateDir)
		return st.PolicySerial == 7
	})
}

// TestAgentMOfN: the agent pins A and B and requires 2 signatures. A
// policy A alone signed is refused for its anchors; A and B (cosign) are
// accepted; an interval change B alone signed passes (the rule), an
// anchor added with A alone does not.
func TestAgentMOfN(t *testing.T) {
	sb := newSandbox(t)
	a, aKey := testpki.SelfSigned(t, "Policy Signer A")
	b, bKey := testpki.SelfSigned(t, "Policy Signer B")
	ca := testpki.NewCA(t, "Corp Interception CA").Cert
	ca2 := testpki.NewCA(t, "Corp Interception CA 2").Cert
	pinsFile := testpki.WritePEM(t, filepath.Join(t.TempDir(), "signers.pem"), a, b)
	coll := startCollector(t)
	first := signedPolicy(t, 1, a, aKey, nil, ca)
	coll.upload(first)
	h := startAgentWith(t, sb, coll, a, agentOpts{extra: map[string]any{"policy_signer_file": pinsFile, "policy_signatures_required": 2}}, stores.KindJava)
	waitFor(t, "1 of 2 refused", func() bool {
		return rejectedWith(coll.events(), "changes anchors, report_unknown_roots, which needs 2 signatures")
	})
	if javaHas(t, sb, stores.Label(ca)) {
		t.Fatal("a policy with 1 of 2 signatures installed its CA")
	}
	both, err := policy.Cosign(signedPolicy(t, 2, a, aKey, nil, ca), b, bKey, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	coll.upload(both)
	h.poke()
	waitFor(t, "2 of 2 applied", func() bool { return countEvents(h.rec.all(), api.EventInstalled, "java:", stores.SHA256(ca)) == 1 })

	coll.upload(signedPolicy(t, 3, b, bKey, map[string]any{"heartbeat_interval": "1m"}, ca))
	h.poke()
	waitFor(t, "the interval change with 1 of 2 applied", func() bool {
		st, _ := ReadStatus(h.stateDir)
		return st.PolicySerial == 3
	})
	coll.upload(signedPolicy(t, 4, a, aKey, map[string]any{"heartbeat_interval": "1m"}, ca, ca2))
	h.poke()
	waitFor(t, "the anchor change with 1 of 2 refused", func() bool { return rejectedWith(coll.events(), "serial 4 changes anchors, which needs 2") })
	if javaHas(t, sb, stores.Label(ca2)) {
		t.Fatal("an anchor added with 1 of 2 signatures was installed")
	}
}

// TestAgentRefusesBadSignerConfig: m above n, and a next_signers set too
// small for m, are refused with precise errors.
func TestAgentRefusesBadSignerConfig(t *testing.T) {
	a, aKey := testpki.SelfSigned(t, "Policy Signer A")
	b, _ := testpki.SelfSigned(t, "Policy Signer B")
	ca := testpki.NewCA(t, "Corp Interception CA").Cert
	cfg := &Config{CollectorURL: "http://127.0.0.1:1", AllowPlainHTTP: true, EnrollSecret: "x", StateDir: t.TempDir(),
		PolicySignerFile: testpki.WritePEM(t, filepath.Join(t.TempDir(), "s.pem"), a), PolicySignaturesRequired: 2}
	if _, err := New(Options{Config: cfg}); err == nil || !strings.Contains(err.Error(), "policy_signatures_required is 2, but policy_signer_file pins 1") {
		t.Fatalf("m > n: %v", err)
	}
	v, err := policy.Verify(signedPolicy(t, 1, a, aKey, map[string]any{"next_signers": []string{string(testpki.PEM(b))}}, ca), policy.VerifyOptions{Signer: a})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkNextSigners(v.Document, 2); err == nil || !strings.Contains(err.Error(), "next_signers names 1 signer(s), but this agent requires 2") {
		t.Fatalf("next_signers < m: %v", err)
	}
	if err := checkNextSigners(v.Document, 1); err != nil {
		t.Fatal(err)
	}
}

// TestPins covers advancePins and the pins file (pure).
func TestPins(t *testing.T) {
	a, aKey := testpki.SelfSigned(t, "A")
	b, bKey := testpki.SelfSigned(t, "B")
	c, _ := testpki.SelfSigned(t, "C")
	ca := testpki.NewCA(t, "CA").Cert
	verified := func(cert *x509.Certificate, key crypto.Signer, next ...*x509.Certificate) *policy.Verified {
		var ns []string
		for _, n := range next {
			ns = append(ns, string(testpki.PEM(n)))
		}
		v, err := policy.Verify(signedPolicy(t, 1, cert, key, map[string]any{"next_signers": ns}, ca), policy.VerifyOptions{Signers: []*x509.Certificate{a, b}})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	p := basePins([]*x509.Certificate{a})
	p2, changed := advancePins(p, verified(a, aKey, b))
	if !changed || !sameCerts(p2.Pinned, []*x509.Certificate{a}) || !sameCerts(p2.Next, []*x509.Certificate{b}) {
		t.Fatalf("A names B: %+v", p2)
	}
	if _, changed := advancePins(p2, verified(a, aKey, b)); changed {
		t.Error("the same policy again changed the pins")
	}
	p3, changed := advancePins(p2, verified(b, bKey, c))
	if !changed || !sameCerts(p3.Pinned, []*x509.Certificate{b}) || !sameCerts(p3.Next, []*x509.Certificate{c}) {
		t.Fatalf("B signs, names C: %+v", p3)
	}
	p4, _ := advancePins(p2, verified(a, aKey))
	if !sameCerts(p4.Pinned, []*x509.Certificate{a}) || len(p4.Next) != 0 {
		t.Fatalf("A cancels the rotation: %+v", p4)
	}

	st, err := openStateDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got, note := st.loadPins([]*x509.Certificate{a}); note != "" || !sameCerts(got.Pinned, []*x509.Certificate{a}) {
		t.Fatalf("no file: %+v %q", got, note)
	}
	if err := st.savePins(p3); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(st.path(fileSigners)); fi.Mode().Perm() != 0o600 {
		t.Errorf("signers.json mode %v", fi.Mode())
	}
	if got, note := st.loadPins([]*x509.Certificate{a}); note != "" || !sameCerts(got.Pinned, p3.Pinned) || !sameCerts(got.Next, p3.Next) {
		t.Fatalf("kept pins: %+v %q", got, note)
	}
	// The administrator pins C in the config: the config wins.
	if got, note := st.loadPins([]*x509.Certificate{c}); !strings.Contains(note, "the config wins") || !sameCerts(got.Pinned, []*x509.Certificate{c}) {
		t.Fatalf("re-pinned config: %+v %q", got, note)
	}
	os.WriteFile(st.path(fileSigners), []byte("{"), 0o600)
	if got, note := st.loadPins([]*x509.Certificate{a}); !strings.Contains(note, "unreadable") || !sameCerts(got.Pinned, []*x509.Certificate{a}) {
		t.Fatalf("damaged file: %+v %q", got, note)
	}
}
