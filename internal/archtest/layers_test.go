package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/anchorwatch/anchorwatch/"

// rules say, for the packages under a prefix, which prefixes they must
// not import (non-test imports). A prefix "x" covers x and x/...
var rules = []struct {
	from   string
	forbid []string
	why    string
}{
	{"stores", []string{"agent", "api", "server", "installers", "proxy", "cmd"},
		"trust stores are the host layer: they know nothing of the agent, the wire or the collector"},
	{"policy", []string{"agent", "api", "server", "installers", "cmd"},
		"the policy document is shared by every layer and depends on none above the stores"},
	{"agent", []string{"server", "installers", "cmd"},
		"the agent talks to the collector through api and api/client only"},
	{"api", []string{"agent", "server", "installers", "cmd"},
		"the wire protocol is shared by agent and collector and depends on neither"},
	{"server", []string{"agent", "installers", "cmd", "stores/all", "stores/system", "stores/nss", "stores/java",
		"stores/windows", "stores/macos", "stores/firefox", "stores/python", "stores/node", "stores/git",
		"stores/bundle", "stores/container", "stores/cloud", "stores/wsl", "stores/probe"},
		"the collector reads what agents report, never a trust store"},
	{"server/db", []string{"server/web", "server/devices", "server/evidence/squidtest"},
		"the database layer is below the collector's logic and views"},
	{"", []string{"cmd"}, "nothing imports the command line"},
}

func covers(prefix, pkg string) bool {
	return prefix == "" || pkg == prefix || strings.HasPrefix(pkg, prefix+"/")
}

// TestLayers lists every package's imports with the go tool and fails on
// an import a rule forbids.
func TestLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	pkgs := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, ok := strings.CutPrefix(f[0], module)
		if !ok {
			continue
		}
		pkgs++
		for _, imp := range f[1:] {
			dep, ok := strings.CutPrefix(imp, module)
			if !ok {
				continue
			}
			for _, r := range rules {
				if !covers(r.from, pkg) {
					continue
				}
				for _, bad := range r.forbid {
					if covers(bad, dep) && !covers(bad, pkg) {
						t.Errorf("%s imports %s: %s", pkg, dep, r.why)
					}
				}
			}
		}
	}
	if pkgs < 40 {
		t.Fatalf("go list named %d packages of the module: not the whole tree", pkgs)
	}
}

// TestLayersCatchAViolation checks the rule matching on a made-up graph
// edge, so TestLayers cannot pass by matching nothing.
func TestLayersCatchAViolation(t *testing.T) {
	hit := false
	for _, r := range rules {
		if !covers(r.from, "stores/nss") {
			continue
		}
		for _, bad := range r.forbid {
			if covers(bad, "server/db") {
				hit = true
			}
		}
	}
	if !hit {
		t.Fatal("stores/nss importing server/db is not caught")
	}
	if covers("server", "serverless") || !covers("server", "server/db") {
		t.Fatal("prefix matching is wrong")
	}
}
