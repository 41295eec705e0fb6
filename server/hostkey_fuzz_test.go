package server

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
)

// FuzzCheckHostKey: whatever the enrollment body, checking its host key
// proof never panics, and a proof it accepts verifies.
func FuzzCheckHostKey(f *testing.F) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	k := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	der, _ := x509.MarshalPKIXPublicKey(k.Public())
	hk := base64.StdEncoding.EncodeToString(der)
	nonce := "00112233445566778899aabbccddeeff"
	sig := base64.StdEncoding.EncodeToString(ed25519.Sign(k, api.EnrollMessage("m", hk, now, nonce)))
	good, _ := json.Marshal(api.EnrollRequest{EnrollSecret: "aws_x", Host: api.HostFacts{Hostname: "h", MachineID: "m"}, HostKey: hk,
		Proof: &api.EnrollProof{Time: now, Nonce: nonce, Signature: sig}})
	f.Add(good)
	f.Add([]byte(`{"enroll_secret":"aws_x","host":{"hostname":"h"},"host_key":"AAAA","proof":{"time":"2030-01-02T03:04:05Z","nonce":"zz","signature":"!"}}`))
	f.Add([]byte(`{"enroll_secret":"aws_x","host":{"hostname":"h"},"proof":{}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeEnroll(body)
		if err != nil {
			return
		}
		key, err := checkHostKey(req, now)
		if err != nil || key == "" {
			return
		}
		der, err := base64.StdEncoding.DecodeString(key)
		if err != nil {
			t.Fatalf("accepted key %q is not base64", key)
		}
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := base64.StdEncoding.DecodeString(req.Proof.Signature)
		if !ed25519.Verify(pub.(ed25519.PublicKey), api.EnrollMessage(req.Host.MachineID, req.HostKey, req.Proof.Time, req.Proof.Nonce), s) {
			t.Fatal("accepted a proof that does not verify")
		}
	})
}
