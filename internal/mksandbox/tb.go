package main

import (
	"fmt"
	"os"
	"testing"
)

// shimTB lets a program call the adapters' test helpers, which take a
// testing.TB: failures print and exit, temporary directories are removed
// when the program ends. Embedding testing.TB supplies its unexported
// method; every method the helpers call is defined here, and any other
// would panic (nil interface), which is a bug to fix here.
type shimTB struct {
	testing.TB
	name     string
	cleanups []func()
}

func newTB(name string) *shimTB { return &shimTB{name: name} }

func (t *shimTB) Helper()      {}
func (t *shimTB) Name() string { return t.name }
func (t *shimTB) Cleanup(f func()) {
	t.cleanups = append(t.cleanups, f)
}
func (t *shimTB) Log(args ...any)                 { fmt.Fprintln(os.Stderr, args...) }
func (t *shimTB) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (t *shimTB) Error(args ...any)               { t.Fatal(args...) }
func (t *shimTB) Errorf(format string, args ...any) {
	t.Fatalf(format, args...)
}
func (t *shimTB) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, append([]any{"mksandbox:"}, args...)...)
	t.FailNow()
}
func (t *shimTB) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mksandbox: "+format+"\n", args...)
	t.FailNow()
}
func (t *shimTB) Fail()         { t.FailNow() }
func (t *shimTB) Failed() bool  { return false }
func (t *shimTB) FailNow()      { t.cleanup(); os.Exit(1) }
func (t *shimTB) Skipped() bool { return false }
func (t *shimTB) TempDir() string {
	d, err := os.MkdirTemp("", "mksandbox-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// cleanup runs the registered cleanups, last first, once.
func (t *shimTB) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}
