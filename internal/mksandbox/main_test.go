package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores"
	_ "github.com/anchorwatch/anchorwatch/stores/all"
)

// TestBuild: the sandbox holds the five stores the demo promises, and the
// adapters find each of them readable.
func TestBuild(t *testing.T) {
	root := t.TempDir()
	tb := newTB(t.Name())
	defer tb.cleanup()
	if err := Build(tb, root); err != nil {
		t.Fatal(err)
	}
	ss, errs := stores.Discover(context.Background(), stores.Env{Root: root}, nil)
	if len(errs) > 0 {
		t.Fatalf("discover: %v", errs)
	}
	var ids []string
	for _, s := range ss {
		ids = append(ids, s.Info().ID)
		if n := s.Info().Note; n != "" {
			t.Errorf("%s: %s", s.Info().ID, n)
		}
		anchors, err := s.List(context.Background())
		if err != nil {
			t.Errorf("%s: %v", s.Info().ID, err)
		}
		if s.Info().Kind != stores.KindNSS && len(anchors) < 100 {
			t.Errorf("%s: %d anchors, want the full vendor set", s.Info().ID, len(anchors))
		}
	}
	want := "java:/etc/ssl/certs/java/cacerts java:/usr/lib/jvm/temurin-25-jdk-amd64/lib/security/cacerts " +
		"nss:/home/alice/.mozilla/firefox/k3x9w2p1.default-release nss:/home/alice/.pki/nssdb system:/etc/ssl/certs/ca-certificates.crt"
	if got := strings.Join(ids, " "); got != want {
		t.Fatalf("stores:\n%s\nwant:\n%s", got, want)
	}
}

func TestShimTBTempDir(t *testing.T) {
	tb := newTB("x")
	d := tb.TempDir()
	if d == "" || tb.Name() != "x" || tb.Failed() {
		t.Fatal("shim")
	}
	tb.cleanup()
	if _, err := os.Stat(d); !os.IsNotExist(err) {
		t.Fatalf("cleanup left %s: %v", d, err)
	}
}
