package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/stores"
)

// hostCommands are the commands that act on this host's trust stores.
func hostCommands() []*cobra.Command {
	return newHostCommands(hostDeps{discover: stores.Discover, blocklist: policy.DefaultBlocklist()})
}

// hostDeps is what the host commands need from the outside world; tests
// replace discover with fake stores.
type hostDeps struct {
	discover func(ctx context.Context, env stores.Env, kinds []stores.Kind) ([]stores.Store, []error)
	// blocklist classifies known-bad roots in inventory.
	blocklist *policy.Blocklist
}

func newHostCommands(d hostDeps) []*cobra.Command {
	cmds := []*cobra.Command{
		newStoresCmd(d),
		newInstallCmd(d),
		newRemoveCmd(d),
		newAuditCmd(d),
		newInventoryCmd(d),
	}
	for _, c := range cmds {
		c.PersistentPreRun = shortLivedGC
	}
	return cmds
}

// shortLivedGC trades memory for time in the host commands: they run for
// tens of milliseconds and allocate a few MiB parsing certificates, so the
// default collector would run several times for nothing. GOGC set by the
// user still wins; the agent and collector keep the default.
func shortLivedGC(*cobra.Command, []string) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}

// hostFlags are the flags every host command shares.
type hostFlags struct {
	root          string
	kinds         string
	javaPasswords []string
	javaPwFile    string
	json          bool
	verbose       bool
}

func (f *hostFlags) register(cmd *cobra.Command, withKinds bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.root, "root", defaultRoot(), "look up the host's filesystem under `DIR` (a mounted image, a container rootfs, a sandbox)")
	if withKinds {
		fl.StringVar(&f.kinds, "stores", "", "store `KINDS` to act on, comma-separated (e.g. system,nss,java; default: all)")
	}
	fl.StringArrayVar(&f.javaPasswords, "java-password", nil, "password of a Java keystore, `PATH=PASS` with PATH as seen inside the root (repeatable; visible to other users in ps: prefer --java-password-file)")
	fl.StringVar(&f.javaPwFile, "java-password-file", "", "read Java keystore passwords from `FILE`: PATH=PASS lines, # comments (mode 0600)")
	fl.BoolVar(&f.json, "json", false, "print machine-readable JSON")
	addWideFlag(cmd)
	fl.BoolVar(&f.verbose, "verbose", false, "log what the adapters do to stderr")
	cmd.Args = noArgs
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrFor(cmd, fmt.Errorf("%s takes no arguments, got %q (CA files go after --ca)", cmd.CommandPath(), args))
	}
	return nil
}

// env checks the flags and builds the adapters' Env and the selected
// kinds. Every error it returns is a usage error (exit 2).
func (f *hostFlags) env(cmd *cobra.Command) (stores.Env, []stores.Kind, error) {
	root := f.root
	if root == "" {
		root = defaultRoot()
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return stores.Env{}, nil, usageErr(fmt.Errorf("--root %s: %w", root, err))
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return stores.Env{}, nil, usageErr(fmt.Errorf("--root: %w", err))
	}
	if !fi.IsDir() {
		return stores.Env{}, nil, usageErr(fmt.Errorf("--root %s is not a directory", root))
	}
	kinds, err := stores.ParseKinds(f.kinds)
	if err != nil {
		return stores.Env{}, nil, usageErr(fmt.Errorf("--stores: %w", err))
	}
	pw, err := f.javaPasswordMap(cmd)
	if err != nil {
		return stores.Env{}, nil, err
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	return stores.Env{Root: abs, JavaPasswords: pw, Log: log}.Normalize(), kinds, nil
}

// javaPasswordMap merges --java-password-file and --java-password (which
// wins for a path it names, and earns a warning: ps shows it).
func (f *hostFlags) javaPasswordMap(cmd *cobra.Command) (map[string]string, error) {
	var pw map[string]string
	if f.javaPwFile != "" {
		var err error
		if pw, err = parseJavaPasswordFile(cmd.ErrOrStderr(), f.javaPwFile); err != nil {
			return nil, err
		}
	}
	if len(f.javaPasswords) == 0 {
		return pw, nil
	}
	warnCommandLine(cmd.ErrOrStderr(), "--java-password", "--java-password-file FILE")
	flags, err := parseJavaPasswords(f.javaPasswords)
	if err != nil {
		return nil, usageErr(err)
	}
	if pw == nil {
		return flags, nil
	}
	for p, v := range flags {
		pw[p] = v
	}
	return pw, nil
}

// parseJavaPasswords parses --java-password PATH=PASS values.
func parseJavaPasswords(vals []string) (map[string]string, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(vals))
	// Errors name the path only: the value may be a password.
	for i, v := range vals {
		p, pass, ok := strings.Cut(v, "=")
		if !ok || p == "" {
			return nil, fmt.Errorf("--java-password (value %d): want PATH=PASSWORD, e.g. /etc/ssl/certs/java/cacerts=changeit", i+1)
		}
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("--java-password %q=…: the keystore path must be absolute, as seen inside --root", p)
		}
		m[path.Clean(p)] = pass
	}
	return m, nil
}

// loadCAs reads every --ca file (see loadCAFile), each certificate once.
func loadCAs(warn io.Writer, paths []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	seen := map[string]bool{}
	for _, p := range paths {
		certs, err := loadCAFile(warn, p)
		if err != nil {
			return nil, err
		}
		for _, c := range certs {
			fp := stores.SHA256(c)
			if !seen[fp] {
				seen[fp] = true
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// loadCAFile reads a CA file given on the command line. A file that
// cannot be read or holds anything but CA certificates is an input
// error (exit 2) naming the file; what the user should know about a CA
// it accepts (a legacy v1 root) is written to warn.
func loadCAFile(warn io.Writer, path string) ([]*x509.Certificate, error) {
	certs, err := policy.LoadCAFile(path)
	if err != nil {
		return nil, usageErr(err)
	}
	for _, c := range certs {
		for _, w := range policy.CAWarnings(c) {
			fmt.Fprintf(warn, "warning: %s: %s\n", path, w)
		}
	}
	return certs, nil
}

// discovered is the result of discovery: the stores found and, for every
// adapter whose discovery failed, a placeholder so that it is reported.
type discovered struct {
	stores []stores.Store
	failed []stores.Result // one error Result per failed adapter
}

func (d hostDeps) find(ctx context.Context, env stores.Env, kinds []stores.Kind) discovered {
	ss, errs := d.discover(ctx, env, kinds)
	var out discovered
	out.stores = ss
	for _, err := range errs {
		var de stores.DiscoverError
		info := stores.Info{ID: "discover", Path: "-"}
		if errors.As(err, &de) {
			info.Kind = de.Kind
			info.ID = string(de.Kind) + ":(discovery)"
		}
		out.failed = append(out.failed, stores.ErrorResult(info, err))
	}
	sort.Slice(out.failed, func(i, j int) bool { return out.failed[i].ID < out.failed[j].ID })
	return out
}

// parallel runs fn for every store, a few at a time, and waits. Results
// go into slots indexed like ss, so output order never depends on timing.
func parallel(ctx context.Context, ss []stores.Store, fn func(ctx context.Context, i int, s stores.Store)) {
	limit := runtime.GOMAXPROCS(0) * 2
	if limit < 4 {
		limit = 4
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, s := range ss {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(ctx, i, s)
		}()
	}
	wg.Wait()
}

// caName names a certificate for people: its CN (or subject) and the
// start of its SHA-256.
func caName(c *x509.Certificate) string {
	n := c.Subject.CommonName
	if n == "" {
		n = c.Subject.String()
	}
	return fmt.Sprintf("%q (sha256 %s…)", n, stores.SHA256(c)[:16])
}

// printJSON writes v to w as indented JSON, the --json output of the
// commands.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func warnDiscovery(w io.Writer, failed []stores.Result) {
	for _, r := range failed {
		fmt.Fprintf(w, "warning: %s\n", r.Detail)
	}
}
