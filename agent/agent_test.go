package agent

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/server/api"
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

// TestAgentEndToEnd: enroll, fetch the signed policy, install into a real
// JKS and a real NSS database, heal removals made with keytool and
// certutil (removed + healed events reach the collector once each),
// report an unknown root, and refuse bad policies while the last good one
// stays in force.
func TestAgentEndToEnd(t *testing.T) {
	sb := newSandbox(t)
	signer, key := newCert(t, "Policy Signer", false)
	ca, _ := newCert(t, "Corp Interception CA", true)
	coll := newFakeCollector(t, "s3cret")
	coll.setPolicy(signedPolicy(t, 1, signer, key, nil, ca), 1)
	h := startAgent(t, sb, coll, signer, stores.KindJava, stores.KindNSS)
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
	waitFor(t, "a compliant report", func() bool {
		r, _ := coll.lastReport()
		if r.Kind != api.ReportFull || r.PolicySerial != 1 || len(r.Stores) == 0 {
			return false
		}
		for _, s := range r.Stores {
			if s.Status != string(stores.StatusCompliant) {
				return false
			}
		}
		return true
	})
	if r, _ := coll.lastReport(); r.Host == nil && coll.enrolls != 1 {
		t.Errorf("enrolled %d times", coll.enrolls)
	}

	// Drift: an administrator deletes our CA with keytool.
	out, err := exec.Command(sb.keytool, "-delete", "-keystore", sb.javaKS, "-storepass", "changeit", "-alias", label).CombinedOutput()
	if err != nil {
		t.Fatalf("keytool -delete: %v\n%s", err, out)
	}
	waitFor(t, "java removed+healed at the collector", func() bool {
		evs, _ := coll.received()
		return countEvents(evs, api.EventRemoved, "java:", fp) == 1 && countEvents(evs, api.EventHealed, "java:", fp) == 1
	})
	if !javaHas(t, sb, label) {
		t.Fatal("the JKS was not healed")
	}
	// And with certutil.
	nsstest.Run(t, nil, "-D", "-d", "sql:"+filepath.Join(sb.root, sb.nssDir), "-n", label)
	waitFor(t, "nss removed+healed at the collector", func() bool {
		evs, _ := coll.received()
		return countEvents(evs, api.EventRemoved, "nss:", fp) == 1 && countEvents(evs, api.EventHealed, "nss:", fp) == 1
	})
	if tr := nsstest.Trust(t, sb.root, sb.nssDir, label); !strings.Contains(tr, "C") {
		t.Fatalf("the NSS database was not healed: trust %q", tr)
	}

	// An unknown root appears in the NSS database.
	rogue, _ := newCert(t, "Rogue Root", true)
	nsstest.AddCert(t, sb.root, sb.nssDir, rogue, "rogue", "C,,")
	waitFor(t, "unknown root reported", func() bool {
		evs, _ := coll.received()
		return countEvents(evs, api.EventUnknownRoot, "nss:", stores.SHA256(rogue)) == 1
	})
	if r, _ := coll.lastReport(); !hasRoot(r.UnknownRoots, stores.SHA256(rogue)) {
		t.Errorf("the last report does not list the rogue root among %d unknown roots", len(r.UnknownRoots))
	}

	// Bad policies are refused and reported; serial 1 stays in force.
	other, otherKey := newCert(t, "Policy Signer", false)
	good2 := signedPolicy(t, 2, signer, key, nil, ca)
	tampered := bytes.Replace(good2, []byte(`"serial":2`), []byte(`"serial":3`), 1)
	rejections := []struct {
		name string
		blob []byte
		want error
	}{
		{"unsigned", []byte(`{"serial":9,"anchors":[]}`), policy.ErrUnsigned},
		{"wrong signer", signedPolicy(t, 5, other, otherKey, nil, ca), policy.ErrWrongSigner},
		{"tampered", tampered, policy.ErrTampered},
		{"replayed serial", signedPolicy(t, 1, signer, key, map[string]any{"heartbeat_interval": "1m"}, ca), policy.ErrReplayed},
	}
	for i, rj := range rejections {
		coll.setPolicy(rj.blob, 9)
		h.poke()
		waitFor(t, rj.name+" rejected", func() bool {
			evs, _ := coll.received()
			return countEvents(evs, api.EventPolicyRejected, "", "") == i+1
		})
		evs, _ := coll.received()
		last := evs[len(evs)-1]
		for _, e := range evs {
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
	}
	// A good serial 2 that removes... applies.
	coll.setPolicy(good2, 2)
	h.poke()
	waitFor(t, "policy 2 applied", func() bool {
		r, _ := coll.lastReport()
		return r.PolicySerial == 2
	})

	_, seen := coll.received()
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s stored %d times", id, n)
		}
	}
	st, err := ReadStatus(h.stateDir)
	if err != nil || st.PolicySerial != 2 || !st.Enrolled {
		t.Errorf("status %+v, %v", st, err)
	}
	// No secret in the state directory's world-readable files.
	b, _ := os.ReadFile(filepath.Join(h.stateDir, fileStatus))
	if bytes.Contains(b, []byte("s3cret")) || bytes.Contains(b, []byte("awn_")) {
		t.Error("status.json holds a secret")
	}
	if fi, _ := os.Stat(filepath.Join(h.stateDir, fileNodeKey)); fi == nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("node key file mode %v, want 0600", fi)
	}
}

func hasRoot(rs []api.Root, fp string) bool {
	for _, r := range rs {
		if r.SHA256 == fp {
			return true
		}
	}
	return false
}
