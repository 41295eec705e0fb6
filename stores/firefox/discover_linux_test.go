//go:build linux

package firefox

import (
	"context"
	"fmt"
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
	var ids []string
	for _, st := range s {
		ids = append(ids, st.Info().ID)
	}
	want := "[firefox:/etc/firefox/policies/policies.json firefox:/usr/lib/firefox-esr/distribution/policies.json firefox:/opt/firefox/distribution/policies.json]"
	if fmt.Sprint(ids) != want {
		t.Fatalf("ids %v\nwant %s", ids, want)
	}
}
