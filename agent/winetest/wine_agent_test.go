//go:build linux

package winetest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/server/servertest"
	"github.com/anchorwatch/anchorwatch/stores"
	winstore "github.com/anchorwatch/anchorwatch/stores/windows"
	"github.com/anchorwatch/anchorwatch/stores/windows/winebed"
)

// deadline bounds every wait: it only keeps a broken agent from hanging
// the test; no speed is asserted (the heal time is logged).
const deadline = 60 * time.Second

// TestWineAgentHealsRootOnRegistryNotification: the Windows agent under
// Wine installs the policy's root into LocalMachine ROOT, and puts it back
// after it is deleted, once through the registry (`reg delete` of its
// key) and once through crypt32 (CertDeleteCertificateFromStore), each
// time reporting removed + healed to the collector. The agent's full
// rescan is at least 15 minutes away (the policy sets an hour; the timer
// armed before the policy arrived uses the 15-minute default), and so is
// the notifier's own safety-net signal, so only the RegNotifyChangeKeyValue
// notification explains a heal within the test; the second round proves
// the agent's wait was re-armed.
func TestWineAgentHealsRootOnRegistryNotification(t *testing.T) {
	ctx := context.Background()
	bed := newBed(t)
	exe, err := bed.Build(ctx, "./cmd/anchorwatch", "anchorwatch.exe")
	if err != nil {
		t.Fatal(err)
	}
	wintest, err := bed.Build(ctx, "./stores/windows/internal/wintest", "wintest.exe")
	if err != nil {
		t.Fatal(err)
	}

	signer, signerKey := newCert(t, "Anchorwatch Wine policy signer", false)
	ca, _ := newCert(t, "Anchorwatch Wine Agent Root", true)
	fp := stores.SHA256(ca)
	rootID := winstore.ID(winstore.StoreRoot)
	regKey := winebed.MachineKey(winstore.StoreRoot, stores.SHA1(ca))
	derHex := strings.ToUpper(hex.EncodeToString(ca.Raw))

	coll := servertest.StartCollector(t, servertest.Options{})
	putPolicy(t, coll, signer, signerKey, ca, "windows")

	// A fresh prefix has no trace of our root.
	if _, ok := regBlob(t, bed, regKey); ok {
		t.Fatalf("fresh prefix already holds %s", regKey)
	}

	// The agent's files live in the prefix (C:\anchorwatch), as an
	// installer would put them; it runs with that directory as its
	// working directory so nothing resolves to the Linux host's files.
	dir := filepath.Join(bed.DriveC(), "anchorwatch")
	collCert, err := os.ReadFile(coll.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.MarshalIndent(map[string]any{
		"collector_url":      coll.URL,
		"collector_ca_file":  `C:\anchorwatch\collector-ca.pem`,
		"enroll_secret_file": `C:\anchorwatch\enroll-secret`,
		"policy_signer_file": `C:\anchorwatch\policy-signer.pem`,
		"state_dir":          `C:\anchorwatch\state`,
		"stores":             []string{"windows"},
		"log_level":          "debug",
	}, "", "  ")
	for name, data := range map[string][]byte{
		"collector-ca.pem":  collCert,
		"enroll-secret":     []byte(coll.EnrollSecret + "\n"),
		"policy-signer.pem": []byte(pemOf(signer)),
		"agent.json":        cfg,
	} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ag := startAgent(t, bed, exe, dir, `C:\anchorwatch\agent.json`)

	host := waitCompliant(t, coll, rootID)
	t.Logf("host %d (%s, os %s) enrolled; %s compliant", host.ID, host.Hostname, host.OS, rootID)
	if host.OS != "windows" {
		t.Errorf("host os %q, want windows: the agent under Wine must report itself as Windows", host.OS)
	}
	// Host identity comes from the Windows registry (MachineGuid, ProductName),
	// not from files that happen to be on the current drive.
	if want, _ := bed.RegString(ctx, `HKLM\SOFTWARE\Microsoft\Cryptography`, "MachineGuid"); want == "" || host.MachineID != strings.ToLower(want) {
		t.Errorf("host machine_id %q, want the registry's MachineGuid %q", host.MachineID, want)
	}
	if !strings.Contains(host.OSVersion, "Windows") {
		t.Errorf("host os_version %q, want the Windows product name", host.OSVersion)
	}
	checkBack(t, bed, wintest, regKey, derHex, fp, "after the first reconcile")

	rounds := []struct {
		how    string
		delete func() error
	}{
		{"reg delete of the registry key", func() error {
			_, err := bed.Run(ctx, "reg", "delete", regKey, "/f")
			return err
		}},
		{"crypt32 CertDeleteCertificateFromStore", func() error {
			out, err := bed.Run(ctx, wintest, "remove", winstore.StoreRoot, fp)
			if err == nil && !strings.Contains(out, `"removed"`) {
				err = fmt.Errorf("wintest remove: %s, want a removed change", out)
			}
			return err
		}},
	}
	for i, r := range rounds {
		n := i + 1
		start := time.Now()
		if err := r.delete(); err != nil {
			t.Fatalf("round %d: delete with %s: %v", n, r.how, err)
		}
		deleted := time.Now()
		// Independent reader: the registry physical store, polled with
		// Wine's own reg.exe (each poll is a wine process: ~0.1 s).
		var back time.Duration
		for {
			if _, ok := regBlob(t, bed, regKey); ok {
				back = time.Since(deleted)
				break
			}
			if time.Since(deleted) > deadline {
				t.Fatalf("round %d (%s): %s not back after %s", n, r.how, regKey, deadline)
			}
			time.Sleep(20 * time.Millisecond)
		}
		removed, healed := waitHealEvents(t, coll, host.ID, rootID, fp, n)
		checkBack(t, bed, wintest, regKey, derHex, fp, fmt.Sprintf("round %d", n))
		t.Logf("round %d (%s): deletion took %s; the agent saw it removed %s and healed it %s after the deletion returned (its event times); reg query saw the key back after %s",
			n, r.how, deleted.Sub(start).Round(time.Millisecond), removed.Time.Sub(deleted).Round(time.Millisecond),
			healed.Time.Sub(deleted).Round(time.Millisecond), back.Round(time.Millisecond))
	}

	// The heals came from notifications: the agent's rescan did not run
	// (an hour away), and no heal failed.
	var failed api.EventList
	get(t, coll, api.PathEvents+"?"+url.Values{"type": {string(api.EventHealFailed)}}.Encode(), &failed)
	if len(failed.Events) != 0 {
		t.Errorf("heal-failed events: %+v", failed.Events)
	}
	if strings.Contains(ag.log(), "msg=rescan") {
		t.Error("the agent ran a full rescan during the test; a heal may not be the notification's")
	}
}

// newBed makes a Wine prefix for the test and removes it afterwards.
func newBed(t *testing.T) *winebed.Bed {
	t.Helper()
	bed, err := winebed.New(context.Background())
	if err != nil {
		t.Fatalf("wine test bed: %v", err)
	}
	t.Cleanup(func() {
		if err := bed.Close(); err != nil {
			t.Error(err)
		}
	})
	return bed
}

// putPolicy signs a policy (serial 1, rescan an hour away) that installs
// ca as a root into the store kinds given, and uploads it.
func putPolicy(t *testing.T, coll *servertest.Collector, signer *x509.Certificate, key crypto.Signer, ca *x509.Certificate, kinds ...string) {
	t.Helper()
	doc, _ := json.Marshal(map[string]any{
		"serial":          1,
		"anchors":         []any{map[string]any{"pem": pemOf(ca), "stores": kinds, "role": "root"}},
		"rescan_interval": "1h",
	})
	blob, err := policy.Sign(doc, signer, key)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := coll.Do(t, http.MethodPut, api.PathPolicy, coll.AdminToken, blob); code != http.StatusOK {
		t.Fatalf("PUT %s: %d %s", api.PathPolicy, code, body)
	}
}

// agentProc is the Windows agent running under wine.
type agentProc struct {
	logFile string
}

func (a *agentProc) log() string {
	b, _ := os.ReadFile(a.logFile)
	return string(b)
}

// startAgent starts `anchorwatch.exe agent run --config CFG` under wine in
// the background, its output in a file, and kills it after the test.
func startAgent(t *testing.T, bed *winebed.Bed, exe, dir, cfg string) *agentProc {
	t.Helper()
	return startAgentIn(t, bed, dir, exe, "agent", "run", "--config", cfg)
}

// startAgentIn starts args (the agent and its arguments) under wine with
// working directory dir, its output in a file, and kills it after the
// test.
func startAgentIn(t *testing.T, bed *winebed.Bed, dir string, args ...string) *agentProc {
	t.Helper()
	a := &agentProc{logFile: filepath.Join(t.TempDir(), "agent.log")}
	out, err := os.Create(a.logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := bed.Command(context.Background(), args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("wine %s: %v", strings.Join(args, " "), err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			t.Errorf("the agent (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
		}
		out.Close()
		if t.Failed() || testing.Verbose() {
			t.Logf("agent log (%s):\n%s", a.logFile, a.log())
		}
	})
	// An agent that dies at once (bad config, a DLL Wine lacks) fails
	// here with its output rather than at the first deadline.
	select {
	case err := <-exited:
		exited <- err
		t.Fatalf("the agent exited at once: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	return a
}

func get(t *testing.T, coll *servertest.Collector, path string, out any) {
	t.Helper()
	code, body := coll.Do(t, http.MethodGet, path, coll.AdminToken, nil)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

// waitCompliant polls the dashboard API until one host is enrolled and
// reports store id compliant.
func waitCompliant(t *testing.T, coll *servertest.Collector, id string) api.HostDetail {
	t.Helper()
	end := time.Now().Add(deadline)
	var last api.HostDetail
	for time.Now().Before(end) {
		var hl api.HostList
		get(t, coll, api.PathHosts, &hl)
		if len(hl.Hosts) > 1 {
			t.Fatalf("%d hosts enrolled, want one", len(hl.Hosts))
		}
		if len(hl.Hosts) == 1 {
			get(t, coll, fmt.Sprintf("%s/%d", api.PathHosts, hl.Hosts[0].ID), &last)
			for _, s := range last.Stores {
				if s.ID == id && s.Status == stores.StatusCompliant {
					return last
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no host with %s compliant after %s; last seen: %+v", id, deadline, last)
	return last
}

// waitHealEvents waits until the collector holds n removed and n healed
// events of the store for the CA and returns the n-th of each.
func waitHealEvents(t *testing.T, coll *servertest.Collector, hostID int64, storeID, fp string, n int) (removed, healed api.Event) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		var rm, hl []api.Event
		var list api.EventList
		get(t, coll, api.PathEvents+"?"+url.Values{"host_id": {fmt.Sprint(hostID)}, "limit": {"1000"}}.Encode(), &list)
		for _, e := range list.Events {
			if e.StoreID != storeID || e.SHA256 != fp {
				continue
			}
			switch e.Type {
			case api.EventRemoved:
				rm = append(rm, e.Event)
			case api.EventHealed:
				hl = append(hl, e.Event)
			}
		}
		if len(rm) >= n && len(hl) >= n {
			return rm[n-1], hl[n-1]
		}
		if time.Now().After(end) {
			t.Fatalf("after %s the collector holds %d removed and %d healed events for %s, want %d each\nevents: %+v",
				deadline, len(rm), len(hl), storeID, n, list.Events)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkBack checks, without the agent, that LocalMachine ROOT holds the
// CA: its registry key's Blob carries the DER, and a bare crypt32
// enumeration of the system store lists it.
func checkBack(t *testing.T, bed *winebed.Bed, wintest, regKey, derHex, fp, when string) {
	t.Helper()
	blob, ok := regBlob(t, bed, regKey)
	if !ok || !strings.Contains(blob, derHex) {
		t.Fatalf("%s: reg query %s: present %v, holds the DER %v", when, regKey, ok, strings.Contains(blob, derHex))
	}
	out, err := bed.Run(context.Background(), wintest, "raw", winstore.StoreRoot)
	if err != nil {
		t.Fatal(err)
	}
	var fps []string
	if err := json.Unmarshal([]byte(out), &fps); err != nil {
		t.Fatalf("wintest raw: %v\n%s", err, out)
	}
	for _, f := range fps {
		if f == fp {
			return
		}
	}
	t.Fatalf("%s: crypt32 does not enumerate the CA in LocalMachine ROOT (%d certificates)", when, len(fps))
}

func regBlob(t *testing.T, bed *winebed.Bed, key string) (string, bool) {
	t.Helper()
	blob, ok, err := bed.RegBlob(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return blob, ok
}

func newCert(t *testing.T, cn string, isCA bool) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn, Organization: []string{"Anchorwatch Wine agent test"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		BasicConstraintsValid: true, IsCA: isCA, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func pemOf(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}
