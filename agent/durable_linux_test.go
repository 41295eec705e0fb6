//go:build linux

package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
)

// The delivery guarantees under a full disk and a lost state file, tested
// with the real collector, a real JKS and a real tmpfs mounted by the test
// (CI runs as root).

// mountTmpfs mounts a tmpfs of size bytes at dir (mode 0755, root's), for
// the test.
func mountTmpfs(t testing.TB, dir string, size int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("needs root (CI runs as root) to mount a tmpfs")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

// fill writes a file into dir until the file system is full and returns
// a function that removes it.
func fill(t testing.TB, dir string) (free func()) {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
}

// removeAndHeal removes our CA from the JKS n times, waiting for each heal
// (as the agent's events say; the collector may be unreachable).
func removeAndHeal(t testing.TB, h *harness, fp string, n int) {
	t.Helper()
	base := countEvents(h.rec.all(), api.EventHealed, "java:", fp)
	for i := 1; i <= n; i++ {
		removeJava(t, h.sb, fp)
		waitFor(t, fmt.Sprintf("heal %d", base+i), func() bool { return countEvents(h.rec.all(), api.EventHealed, "java:", fp) == base+i })
	}
}

// TestStateDirFull puts the agent's state directory on a small tmpfs and
// fills it: the spool cannot be written, so events wait in the journal
// (preallocated: it still takes records). While the disk stays full the
// collector gets nothing and the log says why; once space frees the
// events are delivered. Filled again and followed by a clean stop, the
// agent logs that the events stay in the journal, and after a restart
// with space they arrive: 20 removed/healed pairs, each stored once.
func TestStateDirFull(t *testing.T) {
	sb := newSandbox(t)
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	ca := testpki.NewCA(t, "Corp Interception CA").Cert
	coll := startCollector(t)
	coll.upload(signedPolicy(t, 1, signer, key, nil, ca))
	fs := filepath.Join(t.TempDir(), "statefs")
	mountTmpfs(t, fs, 8<<20)
	stateDir := filepath.Join(fs, "state")
	var logs logBuffer
	h := startAgentWith(t, sb, coll, signer, agentOpts{stateDir: stateDir, logs: &logs}, stores.KindJava)
	fp := stores.SHA256(ca)
	waitFor(t, "install reported", func() bool { return countEvents(coll.events(), api.EventInstalled, "java:", fp) == 1 })

	free := fill(t, fs)
	removeAndHeal(t, h, fp, 10)
	waitFor(t, "the log says the report could not be spooled", func() bool {
		return strings.Contains(logs.String(), "cannot spool the report; its events stay in the journal")
	})
	if n := countEvents(coll.events(), api.EventRemoved, "", ""); n != 0 {
		t.Fatalf("the collector got %d removed events while the state directory was full", n)
	}
	free()
	waitFor(t, "10 pairs delivered once space freed", func() bool {
		evs := coll.events()
		return countEvents(evs, api.EventRemoved, "java:", fp) == 10 && countEvents(evs, api.EventHealed, "java:", fp) == 10
	})

	free = fill(t, fs)
	removeAndHeal(t, h, fp, 10)
	h.stop()
	if !strings.Contains(logs.String(), "stopping: events could not be queued; they stay in the journal") {
		t.Fatalf("a clean stop on a full disk said nothing of the pending events:\n%s", lastLogLines(logs.String(), 20))
	}
	free()
	h2 := startAgentWith(t, sb, coll, signer, agentOpts{stateDir: stateDir}, stores.KindJava)
	waitFor(t, "20 pairs delivered after the restart", func() bool {
		evs := coll.events()
		return countEvents(evs, api.EventRemoved, "java:", fp) == 20 && countEvents(evs, api.EventHealed, "java:", fp) == 20
	})
	storedOnce(t, append(h.rec.all(), h2.rec.all()...), coll.events())
	st, err := ReadStatus(h2.stateDir)
	if err != nil || st.EventsDropped != 0 || st.EventsUnsaved != 0 {
		t.Fatalf("status after the restart: %+v %v", st, err)
	}
}

func lastLogLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestHealFailingCountsAttempts: our CA is removed while the agent is
// down and the keystore's file system (a tmpfs) is full, so every heal
// fails. The collector gets one removed, heal-failed at the 1st, 2nd and
// 4th attempt (with the count), and one healed once space frees; `agent
// status` shows the failing heal meanwhile.
func TestHealFailingCountsAttempts(t *testing.T) {
	sb := newSandbox(t)
	// the JKS on a tmpfs of its own
	data, err := os.ReadFile(sb.javaKS)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(sb.javaKS)
	mountTmpfs(t, dir, len(data)*3)
	if err := os.WriteFile(sb.javaKS, data, 0o644); err != nil {
		t.Fatal(err)
	}
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	ca := testpki.NewCA(t, "Corp Interception CA").Cert
	coll := startCollector(t)
	coll.upload(signedPolicy(t, 1, signer, key, nil, ca))
	h := startAgent(t, sb, coll, signer, stores.KindJava)
	fp := stores.SHA256(ca)
	waitFor(t, "install reported", func() bool { return countEvents(coll.events(), api.EventInstalled, "java:", fp) == 1 })
	h.stop()

	removeJava(t, sb, fp)
	free := fill(t, dir)
	h2 := startAgentWith(t, sb, coll, signer, agentOpts{stateDir: h.stateDir}, stores.KindJava)
	waitFor(t, "5 failed heals", func() bool {
		st, err := ReadStatus(h2.stateDir)
		return err == nil && len(st.HealsFailing) == 1 && st.HealsFailing[0].Failures >= 5 && st.HealsFailing[0].SHA256 == fp
	})
	free()
	h2.poke()
	waitFor(t, "healed once space freed", func() bool { return countEvents(coll.events(), api.EventHealed, "java:", fp) == 1 })
	evs := coll.events()
	if n := countEvents(evs, api.EventRemoved, "java:", fp); n != 1 {
		t.Errorf("%d removed events for one removal, want 1", n)
	}
	var attempts []string
	for _, e := range evs {
		switch {
		case e.Type == api.EventHealFailed:
			attempts = append(attempts, strings.Fields(strings.SplitAfter(e.Detail, "attempt ")[1])[0])
		case e.Type == api.EventHealed && !strings.Contains(e.Detail, "failed attempts"):
			t.Errorf("healed does not say how many attempts failed: %q", e.Detail)
		}
	}
	if got := strings.Join(attempts, ","); got != "1,2,4" && got != "1,2,4,8" {
		t.Errorf("heal-failed sent at attempts %s, want 1,2,4 (and 8 if it got there)", got)
	}
	st, _ := ReadStatus(h2.stateDir)
	if len(st.HealsFailing) != 0 {
		t.Errorf("status still shows failing heals: %+v", st.HealsFailing)
	}
	storedOnce(t, append(h.rec.all(), h2.rec.all()...), coll.events())
}

// TestCorruptStateReportsDrift: a CA removed while the agent was down is
// reported as removed + healed even though state.json was corrupted
// meanwhile (the backup holds the last good state), with a state-reset
// event saying so; with the backup corrupted too the agent says the
// baseline is lost and the CA comes back as installed.
func TestCorruptStateReportsDrift(t *testing.T) {
	sb := newSandbox(t)
	signer, key := testpki.SelfSigned(t, "Policy Signer")
	ca := testpki.NewCA(t, "Corp Interception CA").Cert
	coll := startCollector(t)
	coll.upload(signedPolicy(t, 1, signer, key, nil, ca))
	h := startAgent(t, sb, coll, signer, stores.KindJava)
	fp := stores.SHA256(ca)
	waitFor(t, "install reported", func() bool { return countEvents(coll.events(), api.EventInstalled, "java:", fp) == 1 })
	h.stop()
	local := h.rec.all()

	for i, c := range []struct {
		corrupt       []string
		reset         string
		removed, inst int
	}{
		{[]string{fileState}, "went on with the last good state", 1, 1},
		{[]string{fileState, fileStateBackup}, "drift baseline is lost", 1, 2},
	} {
		removeJava(t, sb, fp)
		for _, f := range c.corrupt {
			if err := os.WriteFile(filepath.Join(h.stateDir, f), []byte(`{"known":{"java:/x":["not a fingerprint"]`), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		h2 := startAgentWith(t, sb, coll, signer, agentOpts{stateDir: h.stateDir}, stores.KindJava)
		waitFor(t, fmt.Sprintf("case %d: state-reset and the CA back", i), func() bool {
			evs := coll.events()
			return countEvents(evs, api.EventStateReset, "", "") == i+1 &&
				countEvents(evs, api.EventHealed, "java:", fp)+countEvents(evs, api.EventInstalled, "java:", fp) == 1+i+1
		})
		h2.stop()
		local = append(local, h2.rec.all()...)
		evs := coll.events()
		if countEvents(evs, api.EventRemoved, "java:", fp) != c.removed || countEvents(evs, api.EventInstalled, "java:", fp) != c.inst {
			t.Errorf("case %d: %d removed, %d installed; want %d, %d", i, countEvents(evs, api.EventRemoved, "java:", fp),
				countEvents(evs, api.EventInstalled, "java:", fp), c.removed, c.inst)
		}
		found := false
		for _, e := range evs {
			found = found || (e.Type == api.EventStateReset && strings.Contains(e.Detail, c.reset))
		}
		if !found {
			t.Errorf("case %d: no state-reset event saying %q", i, c.reset)
		}
	}
	storedOnce(t, local, coll.events())
}
