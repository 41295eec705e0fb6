package server_test

import (
	"encoding/json"
	"testing"

	"github.com/anchorwatch/anchorwatch/server"
)

// FuzzDecodeReach: whatever the body, DecodeReach returns a report or an
// error, never panics, and an accepted report survives a round trip.
func FuzzDecodeReach(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := server.DecodeReach(body)
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
		if _, err := server.DecodeReach(again); err != nil {
			t.Fatalf("accepted report does not decode again: %v\n%s", err, again)
		}
	})
}
