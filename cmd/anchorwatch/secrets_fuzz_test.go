package main

import (
	"strings"
	"testing"
)

// FuzzJavaPasswordFile: a password file never panics the parser, an
// accepted one maps absolute paths only, and an error never carries the
// file's content (it may be a password).
func FuzzJavaPasswordFile(f *testing.F) {
	f.Add([]byte("# comment\n/etc/ssl/certs/java/cacerts=changeit\n\n/opt/jdk/lib/security/cacerts = s3cret=with=equals\r\n"))
	f.Add([]byte("relative/path=pw\n"))
	f.Add([]byte("no-equals-sign\n"))
	f.Add([]byte("=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseJavaPasswordLines("f", data)
		if err != nil {
			for _, line := range strings.Split(string(data), "\n") {
				if len(line) >= 8 && strings.Contains(err.Error(), line) {
					t.Fatalf("the error %q carries a line of the file", err)
				}
			}
			return
		}
		for p := range m {
			if !strings.HasPrefix(p, "/") {
				t.Fatalf("accepted a relative path %q", p)
			}
		}
	})
}
