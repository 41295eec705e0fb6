package web_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/server/servertest"
)

// browser is headless Chromium driven over the DevTools protocol on a
// pipe (--remote-debugging-pipe: JSON messages separated by NUL bytes on
// file descriptors 3 and 4), so the tests need no WebSocket client and no
// chromedriver.
type browser struct {
	cmd    *exec.Cmd
	w      io.WriteCloser
	mu     sync.Mutex
	nextID int64
	wait   map[int64]chan cdpMsg
	events map[string][]cdpMsg // by session: exceptions and console/log errors
	done   chan struct{}
	stderr *servertest.Buffer // Chromium's stderr, for error messages
}

type cdpMsg struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

const chromiumPath = "/usr/bin/chromium"

// startBrowser starts Chromium for t; it is killed after t.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	bin := os.Getenv("ANCHORWATCH_CHROMIUM")
	if bin == "" {
		bin = chromiumPath
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("headless browser %s not found: install the Debian package chromium (or set ANCHORWATCH_CHROMIUM): %v", bin, err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
		"--force-device-scale-factor=1", "--window-size=1440,900", "--ignore-certificate-errors",
		"--remote-debugging-pipe", "--user-data-dir="+t.TempDir(), "about:blank")
	stderr := &servertest.Buffer{Max: 64 << 10}
	cmd.Stderr = stderr
	cmd.ExtraFiles = []*os.File{inR, outW} // fd 3: Chromium reads; fd 4: Chromium writes
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	inR.Close()
	outW.Close()
	b := &browser{cmd: cmd, w: inW, wait: map[int64]chan cdpMsg{}, events: map[string][]cdpMsg{}, done: make(chan struct{}), stderr: stderr}
	go b.read(outR)
	t.Cleanup(func() {
		inW.Close()
		cmd.Process.Kill()
		cmd.Wait()
		outR.Close()
	})
	return b
}

func (b *browser) read(r io.Reader) {
	defer close(b.done)
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		raw, err := br.ReadBytes(0)
		if err != nil {
			return
		}
		var m cdpMsg
		if json.Unmarshal(raw[:len(raw)-1], &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch := b.wait[m.ID]; ch != nil {
				ch <- m
				delete(b.wait, m.ID)
			}
		} else if isProblem(m) {
			b.events[m.SessionID] = append(b.events[m.SessionID], m)
		}
		b.mu.Unlock()
	}
}

// isProblem keeps the events that mean the page misbehaved: an uncaught
// exception, a console error, a log error (CSP violations are reported
// there).
func isProblem(m cdpMsg) bool {
	switch m.Method {
	case "Runtime.exceptionThrown":
		return true
	case "Runtime.consoleAPICalled":
		var p struct{ Type string }
		json.Unmarshal(m.Params, &p)
		return p.Type == "error" || p.Type == "assert"
	case "Log.entryAdded":
		// Network entries are HTTP errors the page handles (a 401 before
		// sign-in, the 404 of an API the collector lacks); security
		// entries (CSP violations) and the rest count.
		var p struct {
			Entry struct{ Level, Source string }
		}
		json.Unmarshal(m.Params, &p)
		return p.Entry.Level == "error" && p.Entry.Source != "network"
	}
	return false
}

// call sends a command (to a page when session is set) and decodes its
// result into out (may be nil).
func (b *browser) call(ctx context.Context, session, method string, params any, out any) error {
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpMsg, 1)
	b.wait[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	b.mu.Lock()
	_, err = b.w.Write(append(data, 0))
	b.mu.Unlock()
	if err != nil {
		return fmt.Errorf("chromium %s: %w (stderr: %s)", method, err, b.stderr.String())
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("chromium %s: %s", method, m.Error.Message)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-b.done:
		return fmt.Errorf("chromium %s: the browser exited (stderr: %s)", method, b.stderr.String())
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.wait, id)
		b.mu.Unlock()
		return fmt.Errorf("chromium %s: %w", method, ctx.Err())
	}
}

// page is one tab.
type page struct {
	b       *browser
	session string
}

// newPage opens a tab; isolated gives it its own cookie jar (a fresh
// browser context, as a private window).
func (b *browser) newPage(ctx context.Context, isolated bool) (*page, error) {
	params := map[string]any{"url": "about:blank"}
	if isolated {
		var bc struct{ BrowserContextID string }
		if err := b.call(ctx, "", "Target.createBrowserContext", map[string]any{"disposeOnDetach": true}, &bc); err != nil {
			return nil, err
		}
		params["browserContextId"] = bc.BrowserContextID
	}
	var tgt struct{ TargetID string }
	if err := b.call(ctx, "", "Target.createTarget", params, &tgt); err != nil {
		return nil, err
	}
	var att struct{ SessionID string }
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": tgt.TargetID, "flatten": true}, &att); err != nil {
		return nil, err
	}
	p := &page{b: b, session: att.SessionID}
	for _, m := range []string{"Page.enable", "Runtime.enable", "Log.enable"} {
		if err := p.call(ctx, m, nil, nil); err != nil {
			return nil, err
		}
	}
	if err := p.call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 1440, "height": 900, "deviceScaleFactor": 1, "mobile": false}, nil); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *page) call(ctx context.Context, method string, params, out any) error {
	return p.b.call(ctx, p.session, method, params, out)
}

// problems returns the exceptions and errors the page logged so far.
func (p *page) problems() []string {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	var out []string
	for _, m := range p.b.events[p.session] {
		out = append(out, m.Method+": "+string(m.Params))
	}
	return out
}

// eval evaluates a JavaScript expression and decodes its JSON-able value.
func (p *page) eval(ctx context.Context, expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := p.call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res); err != nil {
		return err
	}
	if res.ExceptionDetails != nil {
		return fmt.Errorf("evaluate %q: %s", expr, res.ExceptionDetails.Text)
	}
	if out == nil {
		return nil
	}
	if len(res.Result.Value) == 0 {
		return fmt.Errorf("evaluate %q: no value", expr)
	}
	return json.Unmarshal(res.Result.Value, out)
}

// navigate loads url and waits until the page at a path starting with
// wantPath has body[data-state] in states.
func (p *page) navigate(ctx context.Context, url, wantPath string, states ...string) (string, error) {
	// Mark the current document so that it cannot pass for the new one
	// while the navigation is in flight.
	p.eval(ctx, `document.body && document.body.setAttribute('data-state', 'navigating'), true`, nil)
	if err := p.call(ctx, "Page.navigate", map[string]any{"url": url}, nil); err != nil {
		return "", err
	}
	return p.waitState(ctx, wantPath, states...)
}

// waitState polls until location.pathname starts with wantPath and the
// body's data-state is one of states; it returns that state.
func (p *page) waitState(ctx context.Context, wantPath string, states ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last struct{ Path, State, Ready string }
	for {
		// Errors while a navigation replaces the document are expected.
		err := p.eval(ctx, `({Path: location.pathname, State: document.body ? (document.body.getAttribute('data-state') || '') : '', Ready: document.readyState})`, &last)
		if err == nil && strings.HasPrefix(last.Path, wantPath) && last.Ready == "complete" {
			for _, s := range states {
				if last.State == s {
					return s, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("page did not reach %s in state %v: at %s, state %q, readyState %q (problems: %v)", wantPath, states, last.Path, last.State, last.Ready, p.problems())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// testids returns the text of every element with a data-testid, in
// document order (the rendered DOM the tests compare with the API).
func (p *page) testids(ctx context.Context) ([][2]string, error) {
	var out [][2]string
	err := p.eval(ctx, `Array.from(document.querySelectorAll('[data-testid]')).map(e => [e.getAttribute('data-testid'), e.textContent.trim()])`, &out)
	return out, err
}

// screenshot saves a PNG of the whole page.
func (p *page) screenshot(ctx context.Context, file string) error {
	var lm struct {
		CSSContentSize struct{ Width, Height float64 } `json:"cssContentSize"`
	}
	if err := p.call(ctx, "Page.getLayoutMetrics", nil, &lm); err != nil {
		return err
	}
	h := int(lm.CSSContentSize.Height + 0.5)
	h = max(h, 900)
	h = min(h, 6000)
	var shot struct{ Data string }
	if err := p.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true,
		"clip": map[string]any{"x": 0, "y": 0, "width": 1440, "height": h, "scale": 1}}, &shot); err != nil {
		return err
	}
	data, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		return err
	}
	if len(data) < 8 || string(data[1:4]) != "PNG" {
		return errors.New("screenshot: not a PNG")
	}
	return os.WriteFile(file, data, 0o644)
}
