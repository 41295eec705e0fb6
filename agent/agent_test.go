package agent

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/nss/nsstest"
)

func javaHas(t testing.TB, sb sandbox, alias string) bool {
	t.Helper()
	out, err := exec.Command(sb.keytool, "-list", "-keystore", sb.javaKS, "-storepass", "changeit", "-alias", alias).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "does not exist") {
		t.Fatalf("keytool -list: %v\n%s", err, out)
	}
	return err == nil && strings.Contains(string(out), "trustedCertEntry")
}

// allCompliant reports whether the collector shows the host compliant
// with every store compliant, at the given policy serial.
func allCompliant(d api.HostDetail, serial int64) bool {
	if d.Status != api.HostStatusCompliant || d.PolicySerial != serial || len(d.Stores) == 0 {
		return false
	}
	for _, s := range d.Stores {
		if s.Status != stores.StatusCompliant {
			return false
		}
	}
	return true
}

// TestAgentEndToEnd runs the agent against the real collector (TLS pinned
// to its CA certificate): it enrolls with the enroll secret, fetches the
// signed policy uploaded through the admin API, installs into a real JKS
// and a real NSS database, heals removals made with keytool and certutil
// (removed + healed pairs that reach the collector's events API once
// each), reports an unknown root, refuses bad policies (wrong signer
// through the admin API; unsigned, tampered and replayed planted in the
// collector's database, as a compromised collector would serve them)
// while the last good one stays in force, and carries out a CA rotation.
func TestAgentEndToEnd(t *testing.T) {
	sb := newSandbox(t)
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	ca := testpki.NewCA(t, "Corp Interception CA").Cert
	coll := startCollector(t)
	coll.upload(signedPolicy(t, 1, signer, key, nil, ca))
	h := startAgentWith(t, sb, coll, signer, agentOpts{pinCA: true}, stores.KindJava, stores.KindNSS)
	fp, label := stores.SHA256(ca), stores.Label(ca)

	waitFor(t, "installed in java and nss", func() bool {
		evs := h.rec.all()
		return countEvents(evs, api.EventInstalled, "java:", fp) >= 1 && countEvents(evs, api.EventInstalled, "nss:", fp) >= 1
	})
	if !javaHas(t, sb, label) {
		t.Fatal("keytool does not see our CA in the JKS")
	}
	if tr := nsstest.Trust(t, sb.root, sb.nssDir, label); !strings.Contains(tr, "C") {
		t.Fatalf("certutil trust of our CA is %q, want C", tr)
	}
	waitFor(t, "the dashboard shows the host compliant at serial 1", func() bool { return allCompliant(coll.host(), 1) })
	d := coll.host()
	if d.MachineID == "" || d.Hostname == "" || d.AgentVersion != "test" || len(d.CAs) != 1 || d.CAs[0].SHA256 != fp {
		t.Errorf("host detail: machine %q hostname %q version %q CAs %+v", d.MachineID, d.Hostname, d.AgentVersion, d.CAs)
	}

	// Drift: an administrator deletes our CA with keytool.
	out, err := exec.Command(sb.keytool, "-delete", "-keystore", sb.javaKS, "-storepass", "changeit", "-alias", label).CombinedOutput()
	if err != nil {
		t.Fatalf("keytool -delete: %v\n%s", err, out)
	}
	waitFor(t, "java removed+healed at the collector", func() bool {
		evs := coll.events()
		return countEvents(evs, api.EventRemoved, "java:", fp) == 1 && countEvents(evs, api.EventHealed, "java:", fp) == 1
	})
	if !javaHas(t, sb, label) {
		t.Fatal("the JKS was not healed")
	}
	// And with certutil.
	nsstest.Run(t, nil, "-D", "-d", "sql:"+filepath.Join(sb.root, sb.nssDir), "-n", label)
	waitFor(t, "nss removed+healed at the collector", func() bool {
		evs := coll.events()
		return countEvents(evs, api.EventRemoved, "nss:", fp) == 1 && countEvents(evs, api.EventHealed, "nss:", fp) == 1
	})
	if tr := nsstest.Trust(t, sb.root, sb.nssDir, label); !strings.Contains(tr, "C") {
		t.Fatalf("the NSS database was not healed: trust %q", tr)
	}

	// An unknown root appears in the NSS database.
	rogue := testpki.NewCA(t, "Rogue Root").Cert
	nsstest.AddCert(t, sb.root, sb.nssDir, rogue, "rogue", "C,,")
	waitFor(t, "unknown root reported", func() bool {
		return countEvents(coll.events(), api.EventUnknownRoot, "nss:", stores.SHA256(rogue)) == 1 &&
			hasRoot(coll.host().UnknownRoots, stores.SHA256(rogue))
	})

	// Bad policies are refused and reported; serial 1 stays in force.
	other, otherKey := testpki.SelfSigned(t, "Policy Signer")
	good2 := signedPolicy(t, 2, signer, key, nil, ca)
	tampered := bytes.Replace(good2, []byte(`"serial":2`), []byte(`"serial":3`), 1)
	rejections := []struct {
		name    string
		publish func()
		want    error
	}{
		// The collector accepts a well-formed blob from any signer: it never
		// decides trust, the agents' pin does.
		{"wrong signer", func() { coll.upload(signedPolicy(t, 5, other, otherKey, nil, ca)) }, policy.ErrWrongSigner},
		// The collector refuses these at upload; a compromised one serves them.
		{"unsigned", func() { coll.plant(6, []byte(`{"serial":9,"anchors":[]}`)) }, policy.ErrUnsigned},
		{"tampered", func() { coll.plant(7, tampered) }, policy.ErrTampered},
		{"replayed serial", func() {
			coll.plant(8, signedPolicy(t, 1, signer, key, map[string]any{"heartbeat_interval": "1m"}, ca))
		}, policy.ErrReplayed},
	}
	for i, rj := range rejections {
		rj.publish()
		h.poke()
		waitFor(t, rj.name+" rejected", func() bool {
			return countEvents(coll.events(), api.EventPolicyRejected, "", "") == i+1
		})
		var last api.Event
		for _, e := range coll.events() {
			if e.Type == api.EventPolicyRejected {
				last = e
			}
		}
		if !strings.Contains(last.Detail, strings.TrimPrefix(rj.want.Error(), "policy ")) {
			t.Errorf("%s: event detail %q does not say %q", rj.name, last.Detail, rj.want)
		}
		held, _ := os.ReadFile(filepath.Join(h.stateDir, filePolicy))
		v, err := policy.Verify(held, policy.VerifyOptions{Signer: signer})
		if err != nil || v.Document.Serial != 1 {
			t.Fatalf("%s: the stored policy changed (serial %v, %v)", rj.name, v, err)
		}
		if s := coll.host().PolicySerial; s != 1 {
			t.Fatalf("%s: the collector shows the host at serial %d, want 1", rj.name, s)
		}
	}
	if !javaHas(t, sb, label) {
		t.Fatal("a refused policy changed the JKS")
	}

	// Rotation: serial 9 adds a new CA and ends the old one shortly; the
	// agent installs the new one at once and removes the old one then.
	newCA := testpki.NewCA(t, "Corp Interception CA 2").Cert
	ends := time.Now().Add(3 * time.Second).UTC().Truncate(time.Second)
	rot, err := policy.Sign([]byte(`{"serial":9,"report_unknown_roots":true,"anchors":[{"pem":`+jsonString(string(testpki.PEM(newCA)))+`},
		{"pem":`+jsonString(string(testpki.PEM(ca)))+`,"remove_after":"`+ends.Format(time.RFC3339)+`"}]}`), signer, key)
	if err != nil {
		t.Fatal(err)
	}
	coll.upload(rot)
	h.poke() // as SIGHUP would; otherwise the next heartbeat or rescan brings it
	newFP := stores.SHA256(newCA)
	waitFor(t, "rotation: new CA installed, old CA removed by policy", func() bool {
		evs := coll.events()
		return countEvents(evs, api.EventInstalled, "java:", newFP) == 1 && countEvents(evs, api.EventInstalled, "nss:", newFP) == 1 &&
			countEvents(evs, api.EventRemovedByPol, "java:", fp) == 1 && countEvents(evs, api.EventRemovedByPol, "nss:", fp) == 1
	})
	if javaHas(t, sb, label) || !javaHas(t, sb, stores.Label(newCA)) {
		t.Error("after the rotation the JKS should hold the new CA only")
	}
	if strings.Contains(nsstest.List(t, sb.root, sb.nssDir), label) {
		t.Error("after the rotation the NSS database still holds the old CA")
	}
	waitFor(t, "the dashboard shows serial 9 compliant", func() bool {
		d := coll.host()
		return allCompliant(d, 9) && len(d.CAs) == 1 && d.CAs[0].SHA256 == newFP
	})
	// Removal by policy is not drift: nothing is healed back.
	if n := countEvents(coll.events(), api.EventHealed, "", fp); n != 2 {
		t.Errorf("%d healed events for the old CA, want the 2 of the drift above", n)
	}

	waitFor(t, "every event delivered", func() bool { return len(coll.events()) >= len(h.rec.all()) })
	storedOnce(t, h.rec.all(), coll.events())
	st, err := ReadStatus(h.stateDir)
	if err != nil || st.PolicySerial != 9 || !st.Enrolled {
		t.Errorf("status %+v, %v", st, err)
	}
	// No secret in the state directory's world-readable files.
	b, _ := os.ReadFile(filepath.Join(h.stateDir, fileStatus))
	if bytes.Contains(b, []byte(coll.EnrollSecret)) || bytes.Contains(b, []byte("awn_")) {
		t.Error("status.json holds a secret")
	}
	if fi, _ := os.Stat(filepath.Join(h.stateDir, fileNodeKey)); fi == nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("node key file mode %v, want 0600", fi)
	}
}

// TestAgentExpiredSigner: the pinned signer has expired. The policy the
// agent already held stays in force (re-verified on start); a new one,
// signed while the signer was still valid and accepted by the collector,
// is refused as "expired signer" and reported.
func TestAgentExpiredSigner(t *testing.T) {
	sb := newSandbox(t)
	now := time.Now()
	signer, key := testpki.SelfSigned(t, "Short-lived Policy Signer", testpki.Valid(now.Add(-time.Hour), now.Add(2*time.Second)))
	ca := testpki.NewCA(t, "Corp Interception CA").Cert
	held := signedPolicy(t, 1, signer, key, nil, ca)
	next := signedPolicy(t, 2, signer, key, map[string]any{"heartbeat_interval": "1m"}, ca)
	time.Sleep(time.Until(signer.NotAfter.Add(1100 * time.Millisecond))) // let the signer expire
	coll := startCollector(t)
	coll.upload(held)
	coll.upload(next)

	h := startAgentWith(t, sb, coll, signer, agentOpts{seed: func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, filePolicy), held, 0o600); err != nil {
			t.Fatal(err)
		}
	}}, stores.KindJava)
	fp := stores.SHA256(ca)
	waitFor(t, "serial 2 refused as expired signer", func() bool {
		for _, e := range coll.events() {
			if e.Type == api.EventPolicyRejected && strings.Contains(e.Detail, strings.TrimPrefix(policy.ErrSignerExpired.Error(), "policy ")) {
				return true
			}
		}
		return false
	})
	waitFor(t, "the held serial 1 enforced and reported", func() bool {
		return countEvents(coll.events(), api.EventInstalled, "java:", fp) == 1 && allCompliant(coll.host(), 1)
	})
	if !javaHas(t, sb, stores.Label(ca)) {
		t.Fatal("the held policy's CA is not in the JKS")
	}
	st, err := ReadStatus(h.stateDir)
	if err != nil || st.PolicySerial != 1 || !strings.Contains(st.PolicyProblem, "not valid") {
		t.Errorf("status: serial %d, problem %q, %v", st.PolicySerial, st.PolicyProblem, err)
	}
	storedOnce(t, h.rec.all(), coll.events())
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func hasRoot(rs []api.Root, fp string) bool {
	for _, r := range rs {
		if r.SHA256 == fp {
			return true
		}
	}
	return false
}
