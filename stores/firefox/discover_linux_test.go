//go:build linux

package firefox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/anchorwatch/anchorwatch/stores"
)

func TestDiscoverLinux(t *testing.T) {
	root := t.TempDir()
	s, err := discover(context.Background(), stores.Env{Root: root})
	if err != nil || len(s) != 0 {
		t.Fatalf("no Firefox: %d stores, %v", len(s), err)
	}
	writeFile(t, filepath.Join(root, "usr/lib/firefox-esr/application.ini"), []byte("[App]\nName=Firefox\n"))
	writeFile(t, filepath.Join(root, "opt/firefox/application.ini"), []byte("[App]\n"))
	s, err = discover(context.Background(), stores.Env{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(ss []stores.Store) string {
		var out []string
		for _, st := range ss {
			out = append(out, st.Info().ID)
		}
		return fmt.Sprint(out)
	}
	// No /etc/firefox/policies/policies.json: each installation reads its
	// own distribution file, and the /etc file must not be created.
	if want := "[firefox:/usr/lib/firefox-esr/distribution/policies.json firefox:/opt/firefox/distribution/policies.json]"; ids(s) != want {
		t.Fatalf("ids %v\nwant %s", ids(s), want)
	}
	// With it, Firefox reads that one only.
	writeFile(t, filepath.Join(root, "etc/firefox/policies/policies.json"), []byte(`{"policies": {}}`))
	s, _ = discover(context.Background(), stores.Env{Root: root})
	if want := "[firefox:/etc/firefox/policies/policies.json]"; ids(s) != want {
		t.Fatalf("with the /etc file: ids %v\nwant %s", ids(s), want)
	}
	// No installation found (the snap), /etc/firefox there: the /etc file.
	root = t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/firefox"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, _ = discover(context.Background(), stores.Env{Root: root})
	if want := "[firefox:/etc/firefox/policies/policies.json]"; ids(s) != want {
		t.Fatalf("snap: ids %v\nwant %s", ids(s), want)
	}
}
