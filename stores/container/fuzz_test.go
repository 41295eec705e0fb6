package container

import (
	"strings"
	"testing"
)

func FuzzHostsCAs(f *testing.F) {
	f.Add([]byte("server = \"https://r\"\n[host.\"https://m\"]\n  ca = [\"a.pem\", '/abs/b.pem']\n"))
	f.Add([]byte("ca = \"../x\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, n := range HostsCAs(data) {
			if n == "" || n == ".." || strings.ContainsAny(n, `/\`) {
				t.Fatalf("unsafe name %q", n)
			}
		}
	})
}
