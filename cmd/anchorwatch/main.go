// Debian 11's CA bundle holds a root with a negative serial number, which Go
// refuses to parse by default; trust stores must still be read whole.
//go:debug x509negativeserial=1

// Command anchorwatch keeps an organization's TLS-interception CA in every
// trust store of every managed host, proves it to a central collector, and
// finds the devices that are not managed at all.

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	_ "github.com/anchorwatch/anchorwatch/stores/all" // every store adapter for this platform
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "anchorwatch",
		Short:         "Keep the organization's interception CA in every trust store, and prove it",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(hostCommands()...)
	root.AddCommand(extraCommands()...)
	usageRoot(root) // usage.go: every usage error exits 2 with one hint
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if ee == nil || ee.err != nil {
		fmt.Fprintln(os.Stderr, "anchorwatch:", err)
	}
	os.Exit(code)
}
