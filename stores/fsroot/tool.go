package fsroot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"
)

// Limits of Tool runs.
const (
	// ToolTimeout bounds a tool run whose context has no earlier deadline.
	ToolTimeout = 2 * time.Minute
	// toolWaitDelay is how long a killed tool's pipes may stay open.
	toolWaitDelay = 2 * time.Second
	// toolOutput is how much output a run keeps (the rest is counted).
	toolOutput = 256 << 10
)

// ErrToolTimeout is wrapped when a tool ran past its deadline and was
// killed with its whole process group.
var ErrToolTimeout = errors.New("did not finish in time and was killed")

// User is an identity a tool runs as.
type User struct{ UID, GID int }

// Tool is an external program run on a store: in a session and process
// group of its own (no terminal to prompt on; a timeout kills everything
// it started), with only the environment given, its output bounded, and,
// when User is set and we are root, as that user with no supplementary
// groups.
type Tool struct {
	Path  string
	Args  []string
	Env   []string
	Dir   string
	Stdin []byte
	// User, when set (and we are root, and UID is not 0), is who the tool
	// runs as.
	User *User
	// Chroot runs the tool chrooted (Unix only).
	Chroot string
	// Timeout bounds the run; 0 means ToolTimeout.
	Timeout time.Duration
}

// Run runs the tool and returns its combined output (at most 256 KiB;
// what is cut is said at the end). A tool that runs past its deadline is
// killed and the error wraps ErrToolTimeout; a cancelled ctx gives
// ctx.Err().
func (t Tool) Run(ctx context.Context) ([]byte, error) {
	d := t.Timeout
	if d <= 0 {
		d = ToolTimeout
	}
	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	cmd := exec.CommandContext(runCtx, t.Path, t.Args...)
	cmd.Env = t.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Dir = t.Dir
	if t.Stdin != nil {
		cmd.Stdin = bytes.NewReader(t.Stdin)
	}
	out := &capped{max: toolOutput}
	cmd.Stdout, cmd.Stderr = out, out
	prepare(cmd, t)
	cmd.WaitDelay = toolWaitDelay
	err := cmd.Run()
	if ctx.Err() != nil {
		return out.bytes(), ctx.Err()
	}
	if runCtx.Err() != nil {
		return out.bytes(), fmt.Errorf("%s %w after %s", t.Path, ErrToolTimeout, d)
	}
	return out.bytes(), err
}

// capped keeps the first max bytes written to it and counts the rest.
type capped struct {
	buf     bytes.Buffer
	max     int
	dropped int
}

func (c *capped) Write(p []byte) (int, error) {
	room := c.max - c.buf.Len()
	if room >= len(p) {
		return c.buf.Write(p)
	}
	if room > 0 {
		c.buf.Write(p[:room])
	}
	c.dropped += len(p) - max(room, 0)
	return len(p), nil
}

func (c *capped) bytes() []byte {
	if c.dropped == 0 {
		return c.buf.Bytes()
	}
	return append(c.buf.Bytes(), fmt.Sprintf("\n[%d more bytes of output]", c.dropped)...)
}
