package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/db"
)

// Setup shared by the tests that run collectors as child processes
// (kill_test.go, haproxy_test.go) or load one over HTTP (diskfull_test.go).

// initDB creates the collector database at dbURL with the "default"
// enroll secret, as `collector init` does, and returns the secret.
func initDB(t testing.TB, dbURL string) string {
	t.Helper()
	st, err := db.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	secret, err := st.AddSecret(context.Background(), "default")
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// postJSON posts v as JSON and returns the status, body and headers.
func postJSON(client *http.Client, url string, v any) (int, []byte, http.Header, error) {
	data, _ := json.Marshal(v)
	resp, err := client.Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// enrollHosts enrolls n hosts named prefix0, prefix1… with secret through
// the collector at url and returns their node keys.
func enrollHosts(t testing.TB, client *http.Client, url, secret, prefix string, n int) []string {
	t.Helper()
	keys := make([]string, n)
	for i := range keys {
		code, body, _, err := postJSON(client, url+api.PathEnroll, api.EnrollRequest{EnrollSecret: secret, Host: facts(fmt.Sprint(prefix, i))})
		if err != nil || code != http.StatusOK {
			t.Fatalf("enroll %s%d: %d %s %v", prefix, i, code, body, err)
		}
		var er api.EnrollResponse
		if err := json.Unmarshal(body, &er); err != nil {
			t.Fatal(err)
		}
		keys[i] = er.NodeKey
	}
	return keys
}
