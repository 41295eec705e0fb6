package db

import (
	"strings"
	"testing"
)

// TestRedact checks that a PostgreSQL URL quoted in an error never shows
// its password, in the user info or in a password= parameter.
func TestRedact(t *testing.T) {
	for _, u := range []string{
		"postgres://aw:S3cretPw@db.example:5432/aw",
		"postgres://aw@db.example/aw?sslmode=disable&password=S3cretPw",
		"postgresql://aw:p@S3cretPw@db.example/aw",
	} {
		got := redact(u)
		if strings.Contains(got, "S3cretPw") {
			t.Errorf("redact(%q) = %q shows the password", u, got)
		}
		if !strings.Contains(got, "db.example") {
			t.Errorf("redact(%q) = %q lost the host", u, got)
		}
	}
}
