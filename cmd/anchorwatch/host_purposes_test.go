package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores"
)

// audit and inventory report the purposes each store trusts the CA for
// (text and --json); an overtrusted CA is a finding (exit 1) unless
// --allow-purposes accepts its extra purposes; a store that cannot
// restrict purposes is compliant and says so.
func TestAuditInventoryPurposes(t *testing.T) {
	dir := t.TempDir()
	ca := makeCA(t, dir, "Corp Interception CA", true)
	fp := stores.SHA256(ca.cert)
	anchor := func(ps ...stores.Purpose) []stores.Anchor {
		return []stores.Anchor{{Cert: ca.cert, SHA256: fp, TrustedServerAuth: true, Purposes: ps}}
	}
	nss := newFake(stores.KindNSS, "/home/alice/.pki/nssdb")
	nss.anchors = anchor(stores.PurposeServerAuth)
	win := newFake(stores.KindSystem, "/etc/pki/ca-trust/source/anchors")
	win.anchors = anchor(stores.PurposeServerAuth, stores.PurposeEmailProtection)
	jv := newFake(stores.KindJava, "/etc/ssl/certs/java/cacerts")
	jv.info.CannotRestrict = true
	jv.anchors = anchor(stores.PurposeAny)
	h := &fakeHost{stores: []*fakeStore{nss, win, jv}}
	cli := func(args ...string) (string, string, int) {
		return runCLI(t, fakeRoot(h.deps(nil)), append(args, "--root", dir)...)
	}

	out, _, code := cli("audit", "--ca", ca.file)
	if code != 1 || !strings.Contains(out, "PURPOSES") || !strings.Contains(out, "overtrusted  serverAuth,emailProtection") ||
		!strings.Contains(out, "compliant    serverAuth ") || !strings.Contains(oneLine(out), "cannot restrict purposes: trusted for every purpose") {
		t.Fatalf("audit: exit %d\n%s", code, out)
	}
	out, _, code = cli("audit", "--ca", ca.file, "--json")
	var ao auditOutput
	if err := json.Unmarshal([]byte(out), &ao); err != nil || code != 1 {
		t.Fatalf("audit --json: exit %d %v\n%s", code, err, out)
	}
	for _, r := range ao.Stores {
		want := map[stores.Kind]string{stores.KindNSS: "serverAuth", stores.KindSystem: "serverAuth, emailProtection", stores.KindJava: "any"}[r.Kind]
		if stores.JoinPurposes(r.Purposes[fp]) != want {
			t.Errorf("%s: purposes %v, want %s", r.ID, r.Purposes, want)
		}
		if over := r.Kind == stores.KindSystem; over != (r.Status == stores.StatusOvertrusted) || over != (len(r.Overtrusted) == 1) {
			t.Errorf("%s: %s %v", r.ID, r.Status, r.Overtrusted)
		}
	}

	// An administrator who wants S/MIME too.
	if out, _, code = cli("audit", "--ca", ca.file, "--allow-purposes", "smime"); code != 0 || !strings.Contains(oneLine(out), "--allow-purposes allows") {
		t.Fatalf("audit --allow-purposes smime: exit %d\n%s", code, out)
	}
	if out, _, code = cli("audit", "--ca", ca.file, "--allow-purposes", "codeSigning"); code != 1 {
		t.Fatalf("audit --allow-purposes codeSigning allowed S/MIME: exit %d\n%s", code, out)
	}
	if _, errOut, code := cli("audit", "--ca", ca.file, "--allow-purposes", "bogus"); code != 2 || !strings.Contains(errOut, `unknown purpose "bogus"`) {
		t.Fatalf("bad --allow-purposes: exit %d\n%s", code, errOut)
	}

	out, _, _ = cli("inventory", "--ca", ca.file, "--class", "managed")
	if !strings.Contains(out, "PURPOSES") || !strings.Contains(out, "serverAuth,emailProtection,any") {
		t.Fatalf("inventory:\n%s", out)
	}
	out, _, _ = cli("inventory", "--ca", ca.file, "--json")
	var io inventoryOutput
	if err := json.Unmarshal([]byte(out), &io); err != nil || len(io.Anchors) != 1 || len(io.Anchors[0].Stores) != 3 {
		t.Fatalf("inventory --json: %v\n%s", err, out)
	}
	for _, l := range io.Anchors[0].Stores {
		if len(l.Purposes) == 0 {
			t.Errorf("inventory --json: no purposes for %s", l.ID)
		}
	}
}
