package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/server/store"
)

// testPolicyBlob signs a valid policy of serial holding exemptions.
func testPolicyBlob(t *testing.T, serial int64, ex []policy.Exemption) []byte {
	t.Helper()
	mk := func(cn string, ca bool) (*x509.Certificate, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			IsCA: ca, BasicConstraintsValid: ca, KeyUsage: x509.KeyUsageDigitalSignature}
		if ca {
			tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return cert, key
	}
	ca, _ := mk("Test Interception CA", true)
	signer, key := mk("Test Policy Signer", false)
	doc, err := json.Marshal(map[string]any{"serial": serial, "exemptions": ex,
		"anchors": []map[string]any{{"pem": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}))}}})
	if err != nil {
		t.Fatal(err)
	}
	blob, err := policy.Sign(doc, signer, key)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

// TestCollectorPolicyUploadImportsExemptions checks that `collector policy
// upload` leaves the policy's exemptions in the device tables at once.
func TestCollectorPolicyUploadImportsExemptions(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "collector.db")
	file := filepath.Join(dir, "policy.p7")
	ex := []policy.Exemption{{Subnets: []string{"10.0.0.0/24"}, Reason: "server VLAN"}, {MACs: []string{"00:11:22:33:44:55"}, Reason: "printer"}}
	if err := os.WriteFile(file, testPolicyBlob(t, 5, ex), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, newRootCmd(), "collector", "--db", db, "policy", "upload", file)
	if code != 0 || !strings.Contains(out, "2 device exemptions imported") {
		t.Fatalf("policy upload: %d\n%s%s", code, out, errOut)
	}
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var serial, n int64
	if err := st.ReadDB().QueryRow("SELECT serial FROM devices_policy_import WHERE id = 1").Scan(&serial); err != nil {
		t.Fatalf("imported serial: %v", err)
	}
	if err := st.ReadDB().QueryRow("SELECT COUNT(*) FROM device_exemptions WHERE source = 'policy'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if serial != 5 || n != 2 {
		t.Errorf("imported serial %d with %d exemptions, want 5 with 2", serial, n)
	}
}
