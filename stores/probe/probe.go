package probe

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/internal/appstore"
	"github.com/anchorwatch/anchorwatch/stores/node"
	"github.com/anchorwatch/anchorwatch/stores/python"
)

// Runtime is one TLS client of the host.
type Runtime struct {
	Kind    stores.Kind `json:"kind"`
	Name    string      `json:"name"` // e.g. "python3.11 venv", "node", "git"
	Path    string      `json:"path"` // the executable (host path)
	Owner   string      `json:"owner,omitempty"`
	uid     int         // -1: run as the caller
	gid     int
	home    string
	command func(url string) []string
	verdict func(code int, out string) Outcome
}

// Outcome is what a run says about TLS.
type Outcome string

// Outcomes.
const (
	Trusted   Outcome = "ok"        // the handshake verified (any HTTP answer after it counts)
	Untrusted Outcome = "untrusted" // the certificate was rejected
	Failed    Outcome = "error"     // something else went wrong (no connection, not run)
)

// Result is one runtime's answer.
type Result struct {
	Runtime
	Outcome  Outcome `json:"result"`
	Detail   string  `json:"detail"`
	Duration string  `json:"duration"`
}

// Timeout bounds one client run.
const Timeout = 30 * time.Second

// maxOutput bounds what is kept of a client's output.
const maxOutput = 64 << 10

// LiveRoot reports whether root is the running host's file system, the
// only one whose programs the probe can run.
func LiveRoot(root string) bool { return appstore.IsLiveRoot(root) }

// Runtimes returns the TLS clients found on the running host (root "/").
func Runtimes(ctx context.Context, env stores.Env) []Runtime {
	env = env.Normalize()
	users := appstore.LoadUsers(ctx, env.Root)
	homes := appstore.Homes(ctx, env.Root)
	var out []Runtime
	add := func(rt Runtime) {
		rt.uid, rt.gid = -1, -1
		if sc, err := fsroot.DirScope(env.Root, path.Dir(rt.Path)); err == nil && sc.User() {
			rt.uid, rt.gid, rt.Owner = sc.UID, sc.GID, users.Name(sc.UID)
			for _, h := range homes {
				if h.UID == sc.UID {
					rt.home = h.Path
				}
			}
		}
		out = append(out, rt)
	}
	seen := map[string]bool{}
	for _, e := range python.Environments(ctx, env.Root) {
		p := e.Python(env.Root)
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		add(pythonRuntime(p, "python"+e.Version+" "+e.Kind))
	}
	for _, p := range node.Runtimes(ctx, env.Root) {
		add(nodeRuntime(p))
	}
	for _, t := range tools {
		for _, p := range t.paths {
			if isExec(env.Root, p) {
				add(t.make(p))
				break
			}
		}
	}
	return out
}

// Run runs rt against url. extraEnv is the environment a login session
// gets (SessionEnv).
func Run(ctx context.Context, rt Runtime, url string, extraEnv []string) Result {
	start := time.Now()
	res := Result{Runtime: rt}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	args := rt.command(url)
	cmd := exec.CommandContext(ctx, rt.Path, args...)
	cmd.Dir = "/"
	home := rt.home
	if home == "" {
		home = os.Getenv("HOME")
	}
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home, "LANG=C.UTF-8"}, extraEnv...)
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "SystemRoot", "ProgramData", "APPDATA"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	if err := runAs(cmd, rt.uid, rt.gid); err != nil {
		res.Outcome, res.Detail = Failed, err.Error()
		return res
	}
	var buf limited
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	res.Duration = time.Since(start).Round(time.Millisecond).String()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	out := strings.TrimSpace(buf.String())
	res.Outcome = rt.verdict(code, out)
	if ctx.Err() != nil {
		res.Outcome, out = Failed, fmt.Sprintf("no answer within %s", Timeout)
	}
	res.Detail = lastLine(out)
	return res
}

// RunAll runs every runtime, a few at a time, results in the order given.
func RunAll(ctx context.Context, rts []Runtime, url string, extraEnv []string) []Result {
	out := make([]Result, len(rts))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, rt := range rts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = Run(ctx, rt, url, extraEnv)
		}()
	}
	wg.Wait()
	return out
}

// SessionEnv is the environment a login session gets from the system-wide
// configuration: NAME=value pairs, a later setting winning.
func SessionEnv(ctx context.Context, env stores.Env) []string {
	last := map[string]string{}
	var order []string
	for _, v := range appstore.SystemEnv(ctx, env) {
		if _, ok := last[v.Name]; !ok {
			order = append(order, v.Name)
		}
		last[v.Name] = v.Value
	}
	var out []string
	for _, k := range order {
		if k != "PATH" && k != "HOME" {
			out = append(out, k+"="+last[k])
		}
	}
	return out
}

// limited keeps the first maxOutput bytes written to it.
type limited struct{ bytes.Buffer }

func (l *limited) Write(p []byte) (int, error) {
	if room := maxOutput - l.Len(); room > 0 {
		if len(p) > room {
			l.Buffer.Write(p[:room])
		} else {
			l.Buffer.Write(p)
		}
	}
	return len(p), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if len(l) > 300 {
		l = l[:300] + "…"
	}
	return l
}

func isExec(root, p string) bool {
	fi, err := os.Stat(path.Clean(root + "/" + p))
	return err == nil && fi.Mode().IsRegular()
}
