package server_test

import (
	"encoding/json"
	"testing"

	"github.com/anchorwatch/anchorwatch/server"
)

// FuzzDecodeReport: whatever the body, DecodeReport returns a report or
// an error, never panics, and an accepted report survives a round trip.
func FuzzDecodeReport(f *testing.F) {
	f.Add([]byte(`{"node_key":"awn_x","report_id":"r1","kind":"full","policy_serial":3,"state_hash":"ab",
"stores":[{"id":"nss:/p","kind":"nss","path":"/p","status":"compliant"}],
"unknown_roots":[{"sha256":"ab12","subject":"CN=x","not_after":"2030-01-01T00:00:00Z","class":"blocked","store_ids":["nss:/p"]}],
"cas":[{"sha256":"cd34","subject":"CN=Corp","not_after":"2031-01-01T00:00:00Z"}],
"events":[{"id":"e1","time":"2025-01-01T00:00:00Z","type":"removed","store_id":"nss:/p"}],
"host":{"hostname":"h","ips":["10.0.0.1","::1"],"macs":["aa:bb:cc:dd:ee:ff"]}}`))
	f.Add([]byte(`{"node_key":"k","report_id":"r2","kind":"heartbeat","state_hash":"ab"}`))
	f.Add([]byte("{\"report_id\":\"\xff\"}"))
	f.Add([]byte(`{"kind":"full","stores":[{},{}]}`))
	f.Add([]byte(`[1,2,3]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := server.DecodeReport(body)
		if err != nil {
			if r != nil {
				t.Fatal("report returned with an error")
			}
			return
		}
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := server.DecodeReport(again); err != nil {
			t.Fatalf("accepted report does not decode again: %v\n%s", err, again)
		}
	})
}

// FuzzDecodeEnroll: the enrollment decoder never panics.
func FuzzDecodeEnroll(f *testing.F) {
	f.Add([]byte(`{"enroll_secret":"aws_x","host":{"hostname":"h","machine_id":"m","os":"linux","ips":["192.0.2.1"],"macs":["02:00:00:00:00:01"]}}`))
	f.Add([]byte(`{"enroll_secret":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if r, err := server.DecodeEnroll(body); err == nil && r.Host.Hostname == "" {
			t.Fatal("accepted an enrollment without a hostname")
		}
	})
}

// FuzzPolicySerial: hostile policy uploads never panic.
func FuzzPolicySerial(f *testing.F) {
	f.Add([]byte("-----BEGIN PKCS7-----\nMAA=\n-----END PKCS7-----\n"))
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02})
	f.Fuzz(func(t *testing.T, blob []byte) {
		if n, err := server.PolicySerial(blob); err == nil && n <= 0 {
			t.Fatal("accepted a non-positive serial")
		}
	})
}
