package main

import (
	"strings"
	"testing"
)

// TestRedactURL checks that the database URL the collector logs at start
// never shows a password, wherever the URL carries it.
func TestRedactURL(t *testing.T) {
	tests := []struct{ in, keep string }{
		{"postgres://aw:S3cretPw@db.example:5432/aw?sslmode=verify-full", "db.example:5432/aw"},
		{"postgresql://aw@db.example/aw?password=S3cretPw&sslmode=disable", "db.example/aw"},
		{"postgres://aw:S3cretPw@db.example/aw?password=S3cretPw", "db.example/aw"},
		{"postgres://aw:p%40S3cretPw@db.example/aw", "db.example/aw"},
		{"postgres://aw:p@S3cretPw@db.example/aw", ""},
		{"/var/lib/anchorwatch/collector.db", "/var/lib/anchorwatch/collector.db"},
	}
	for _, tt := range tests {
		got := redactURL(tt.in)
		if strings.Contains(got, "S3cretPw") {
			t.Errorf("redactURL(%q) = %q shows the password", tt.in, got)
		}
		if !strings.Contains(got, tt.keep) {
			t.Errorf("redactURL(%q) = %q lost %q", tt.in, got, tt.keep)
		}
	}
}
