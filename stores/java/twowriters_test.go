//go:build linux

package java

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

// TestTwoWritersAndKeytool runs, on one keystore at once, what an
// operator's `anchorwatch remove` and the agent healing do (two
// anchorwatch writers: the CLI removing our CA with the default options,
// the agent putting it back the moment it sees it gone, with
// Options.Watched as the agent passes it) while a real keytool adds
// entries one after another in a loop. Every entry keytool added must
// be in the keystore at the end, listed by keytool itself.
func TestTwoWritersAndKeytool(t *testing.T) {
	j := jdk(t, 17)
	root, rts := sandbox(t)
	for _, c := range []struct {
		rt        int
		storetype string
		password  string
		entries   int
	}{
		{0, "JKS", "changeit", 30},
		{1, "PKCS12", "", 30},
	} {
		t.Run(c.storetype, func(t *testing.T) {
			rt := rts[c.rt]
			hp := hostPath(root, rt.Store)
			ca := testpki.NewCA(t, "Our CA "+c.storetype).Cert
			dir := t.TempDir()
			var files []string
			for i := 0; i < c.entries; i++ {
				kc := testpki.NewCA(t, fmt.Sprintf("Keytool CA %d", i)).Cert
				files = append(files, testpki.WritePEM(t, filepath.Join(dir, fmt.Sprintf("kt-%d.pem", i)), kc))
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var wg sync.WaitGroup
			var removes, heals, undone atomic.Int64
			var cliErr atomic.Value
			// the agent: heal whenever our CA is missing (Watched, as the
			// agent's worker passes it)
			agent := openStore(t, root, rt.Cacerts, nil)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					as, err := agent.List(ctx)
					if err == nil {
						if _, ok := findAnchor(as, ca); !ok {
							if _, err := agent.Install(ctx, []*x509.Certificate{ca}, stores.Options{Watched: true}); err == nil {
								heals.Add(1)
							}
						}
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
			// the operator: remove our CA over and over, as the CLI does
			cli := openStore(t, root, rt.Cacerts, nil)
			cli.settle = defaultSettle
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					_, err := cli.Remove(ctx, []string{stores.SHA256(ca)}, stores.Options{})
					switch {
					case err == nil:
						removes.Add(1)
					case errors.Is(err, errUndone):
						undone.Add(1) // the agent put it back: said, not fought
					case ctx.Err() == nil:
						cliErr.CompareAndSwap(nil, err.Error())
					}
					time.Sleep(150 * time.Millisecond)
				}
			}()
			// keytool, adding entries one after another
			var ktErrs []string
			for i, f := range files {
				args := []string{"-J-XX:TieredStopAtLevel=1", "-importcert", "-noprompt", "-alias", fmt.Sprintf("kt-%d", i), "-file", f,
					"-keystore", hp, "-storetype", c.storetype, "-storepass", c.password}
				out, err := exec.Command(j.Keytool(), args...).CombinedOutput()
				if err != nil {
					ktErrs = append(ktErrs, fmt.Sprintf("kt-%d: %v: %s", i, err, strings.TrimSpace(string(out))))
				}
			}
			cancel()
			wg.Wait()
			list := keytoolList(t, j, hp, c.storetype, c.password)
			lost := 0
			for i := range files {
				if !containsEntry(list, fmt.Sprintf("kt-%d", i), "trustedCertEntry") {
					lost++
				}
			}
			t.Logf("%s: %d keytool runs, %d removes kept, %d undone by the agent, %d heals; lost %d of %d keytool entries",
				c.storetype, len(files), removes.Load(), undone.Load(), heals.Load(), lost, len(files))
			if len(ktErrs) > 0 {
				t.Errorf("keytool failed: %s", strings.Join(ktErrs, "; "))
			}
			if e, ok := cliErr.Load().(string); ok {
				t.Errorf("remove failed otherwise than undone by the agent: %s", e)
			}
			if heals.Load() == 0 || removes.Load()+undone.Load() == 0 {
				t.Errorf("the writers did not race: %d heals, %d removes", heals.Load(), removes.Load()+undone.Load())
			}
			if lost > 0 {
				t.Errorf("lost %d of %d entries keytool added", lost, len(files))
			}
		})
	}
}
