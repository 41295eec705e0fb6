package servertest

import (
	"strings"
	"sync"
)

// Buffer collects what a process or a logger writes from other goroutines
// (a collector's log, a browser's stderr) for a test to read. Max, when
// set, caps what it keeps; more is dropped.
type Buffer struct {
	Max int
	mu  sync.Mutex
	b   strings.Builder
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Max > 0 && l.b.Len() > l.Max {
		return len(p), nil
	}
	return l.b.Write(p)
}

// String returns what was written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
