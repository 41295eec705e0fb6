package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

// TestAgentHealsAppStores: the agent, with no code of its own for them,
// installs the CA into a virtualenv's certifi bundle and the Node
// environment store, and heals the bundle after `pip install -U
// certifi` replaces it (a new file renamed over the old, as pip does).
func TestAgentHealsAppStores(t *testing.T) {
	root := t.TempDir()
	bundle, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatal(err)
	}
	cacert := filepath.Join(root, "home/dev/proj/.venv/lib/python3.11/site-packages/certifi/cacert.pem")
	for p, data := range map[string][]byte{
		cacert: bundle,
		filepath.Join(root, "home/dev/proj/.venv/pyvenv.cfg"): []byte("version = 3.11.2\n"),
		filepath.Join(root, "etc/os-release"):                 []byte("ID=debian\n"),
		filepath.Join(root, "etc/environment"):                []byte("LANG=C.UTF-8\n"),
		filepath.Join(root, "usr/bin/node"):                   nil,
	} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	ca := testpki.NewCA(t, "Corp Interception CA").Cert
	coll := startCollector(t)
	coll.upload(signedPolicy(t, 1, signer, key, nil, ca))
	startAgent(t, sandbox{root: root}, coll, signer, stores.KindPython, stores.KindNode)
	fp := stores.SHA256(ca)
	waitFor(t, "installed in the venv and in the node store", func() bool {
		evs := coll.events()
		return countEvents(evs, api.EventInstalled, "python:", fp) == 1 && countEvents(evs, api.EventInstalled, "node:/etc/environment", fp) == 1
	})
	if env, _ := os.ReadFile(filepath.Join(root, "etc/environment")); !strings.Contains(string(env), "NODE_EXTRA_CA_CERTS=") {
		t.Errorf("/etc/environment: %q", env)
	}
	// pip install -U certifi: a fresh cacert.pem renamed into place.
	tmp := cacert + ".pip-tmp"
	if err := os.WriteFile(tmp, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, cacert); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replaced bundle removed+healed at the collector", func() bool {
		evs := coll.events()
		return countEvents(evs, api.EventRemoved, "python:", fp) == 1 && countEvents(evs, api.EventHealed, "python:", fp) == 1
	})
	if got, _ := os.ReadFile(cacert); !strings.Contains(string(got), strings.TrimSpace(string(testpki.PEM(ca)))) {
		t.Error("the bundle was not healed")
	}
}
