package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/stores"
)

// Per-store outcome of install and remove.
const (
	outcomeChanged   = "changed"
	outcomeUnchanged = "unchanged"
	outcomeError     = "error"
	// outcomeNeedsRoot: the store would change, and this user may not
	// change it (stores.ErrNeedsRoot).
	outcomeNeedsRoot = "needs-root"
)

// changeResult is what install or remove did to one store.
type changeResult struct {
	ID      string          `json:"id"`
	Kind    stores.Kind     `json:"kind"`
	Path    string          `json:"path"`
	Status  string          `json:"status"` // changed, unchanged, needs-root, error
	Detail  string          `json:"detail"`
	Changes []stores.Change `json:"changes,omitempty"`
}

// changeOutput is the JSON of install and remove.
type changeOutput struct {
	Action    string         `json:"action"` // install, remove
	DryRun    bool           `json:"dry_run"`
	Root      string         `json:"root"`
	Changed   int            `json:"changed"`
	Failed    int            `json:"failed"`
	NeedsRoot int            `json:"needs_root"`
	Stores    []changeResult `json:"stores"`
}

func newInstallCmd(d hostDeps) *cobra.Command {
	var (
		f      hostFlags
		cas    []string
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "install --ca FILE [--ca FILE…]",
		Short: "Put CA certificates into every trust store, trusted for TLS server auth",
		Long: `Put each CA into every discovered store of the selected kinds (default: all) with
TLS server-auth trust. Idempotent: a store that already holds a CA, trusted, is not
touched, and a second run says "nothing to do".

CA files may hold PEM (one or many certificates), DER, or a PKCS#7 bundle
(.p7b/.p7c). A file holding anything but CA certificates is refused.

Exit status: 0 when every store has the CAs; 1 when some store failed;
2 on a usage error (bad flag, unreadable or non-CA file) or when no store was found.`,
		Example: `  anchorwatch install --ca corp-ca.pem
  anchorwatch install --ca corp-ca.pem --stores nss,java --dry-run
  anchorwatch install --ca bundle.p7b --root ./demo-sandbox`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(cas) == 0 {
				return usageErr(errors.New("install: give the CA with --ca FILE"))
			}
			certs, err := loadCAs(cmd.ErrOrStderr(), cas)
			if err != nil {
				return err
			}
			env, kinds, err := f.env(cmd)
			if err != nil {
				return err
			}
			return runChange(cmd, d, f, env, kinds, "install", dryRun, certs, func(ctx context.Context, s stores.Store, opt stores.Options) ([]stores.Change, error) {
				return s.Install(ctx, stores.Select(s, certs), opt)
			})
		},
	}
	f.register(cmd, true)
	cmd.Flags().StringArrayVar(&cas, "ca", nil, "CA certificate `FILE` (PEM, DER, .p7b/.p7c; repeatable)")
	cmd.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "say what would change, change nothing")
	return cmd
}

func newRemoveCmd(d hostDeps) *cobra.Command {
	var (
		f      hostFlags
		cas    []string
		hashes []string
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "remove --ca FILE | --sha256 HEX",
		Short: "Take CA certificates out of every trust store",
		Long: `Take each CA out of every discovered store of the selected kinds (default: all).
Name the CA by its file (--ca) or by the SHA-256 of its DER (--sha256, hex with or
without colons, as printed by 'openssl x509 -noout -fingerprint -sha256').
Stores that do not hold it are left alone.

Exit status: 0 when no store holds the CAs any more; 1 when some store failed;
2 on a usage error or when no store was found.`,
		Example: `  anchorwatch remove --ca corp-ca.pem
  anchorwatch remove --sha256 5F:3B:…:9A --stores nss`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(cas) == 0 && len(hashes) == 0 {
				return usageErr(errors.New("remove: name the CA with --ca FILE or --sha256 HEX"))
			}
			certs, err := loadCAs(cmd.ErrOrStderr(), cas)
			if err != nil {
				return err
			}
			var fps []string
			seen := map[string]bool{}
			for _, c := range certs {
				if fp := stores.SHA256(c); !seen[fp] {
					seen[fp] = true
					fps = append(fps, fp)
				}
			}
			for _, h := range hashes {
				fp, ok := stores.NormalizeSHA256(h)
				if !ok {
					return usageErr(fmt.Errorf("--sha256 %q: want the 64 hex digits of a SHA-256 fingerprint (colons allowed)", h))
				}
				if !seen[fp] {
					seen[fp] = true
					fps = append(fps, fp)
				}
			}
			env, kinds, err := f.env(cmd)
			if err != nil {
				return err
			}
			return runChange(cmd, d, f, env, kinds, "remove", dryRun, certs, func(ctx context.Context, s stores.Store, opt stores.Options) ([]stores.Change, error) {
				return s.Remove(ctx, fps, opt)
			})
		},
	}
	f.register(cmd, true)
	cmd.Flags().StringArrayVar(&cas, "ca", nil, "CA certificate `FILE` to remove (repeatable)")
	cmd.Flags().StringArrayVar(&hashes, "sha256", nil, "SHA-256 `HEX` of the certificate to remove (repeatable)")
	cmd.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "say what would change, change nothing")
	return cmd
}

// changeOp is install or remove on one store.
type changeOp func(context.Context, stores.Store, stores.Options) ([]stores.Change, error)

// runChange applies op to every store concurrently and reports.
func runChange(cmd *cobra.Command, d hostDeps, f hostFlags, env stores.Env, kinds []stores.Kind, action string, dryRun bool,
	certs []*x509.Certificate, op changeOp) error {
	ctx := cmd.Context()
	found := d.find(ctx, env, kinds)
	results := make([]changeResult, len(found.stores))
	parallel(ctx, found.stores, func(ctx context.Context, i int, s stores.Store) {
		results[i] = changeStore(ctx, env, s, action, dryRun, certs, op)
	})
	for _, fr := range found.failed {
		results = append(results, changeResult{ID: fr.ID, Kind: fr.Kind, Path: fr.Path, Status: outcomeError, Detail: fr.Detail})
	}
	out := changeOutput{Action: action, DryRun: dryRun, Root: env.Root, Stores: results}
	for _, r := range results {
		switch r.Status {
		case outcomeChanged:
			out.Changed++
		case outcomeError:
			out.Failed++
		case outcomeNeedsRoot:
			out.NeedsRoot++
		}
	}
	w := cmd.OutOrStdout()
	if f.json {
		if err := printJSON(w, out); err != nil {
			return err
		}
	} else {
		printChange(w, termLayout(cmd), out, len(certs))
	}
	switch {
	case len(found.stores) == 0 && out.Failed == 0:
		return &exitError{code: 2, err: fmt.Errorf("%s: no trust store found under %s%s", action, env.Root, kindsHint(f.kinds))}
	case len(found.stores) == 0:
		return &exitError{code: 2}
	case out.Failed > 0 || out.NeedsRoot > 0:
		return &exitError{code: 1}
	}
	return nil
}

// changeStore applies op to one store. A store this user may not write
// (stores.CheckAccess) is only looked at, as a dry run: when it would
// change, it needs root; a write refused with "permission denied" is
// reported the same way.
func changeStore(ctx context.Context, env stores.Env, s stores.Store, action string, dryRun bool, certs []*x509.Certificate, op changeOp) changeResult {
	info := stores.CheckAccess(env, s.Info())
	r := changeResult{ID: info.ID, Kind: info.Kind, Path: info.Path}
	if info.Note != "" {
		r.Status, r.Detail = outcomeError, info.Note
		return r
	}
	changes, err := op(ctx, s, stores.Options{DryRun: dryRun || info.NeedsRoot})
	r.Changes = changes
	switch {
	case err != nil && errors.Is(err, fs.ErrPermission) && os.Geteuid() > 0:
		r.Status, r.Detail = outcomeNeedsRoot, "not writable by this user: "+stores.NeedsRoot(info).Hint()
	case err != nil:
		r.Status, r.Detail = outcomeError, err.Error()
	case stores.Changed(changes) && info.NeedsRoot:
		r.Status = outcomeNeedsRoot
		r.Detail = describeChanges(changes, certs, true) + "; " + stores.NeedsRoot(info).Hint()
	case stores.Changed(changes):
		r.Status, r.Detail = outcomeChanged, describeChanges(changes, certs, dryRun)
	default:
		r.Status = outcomeUnchanged
		if action == "install" {
			r.Detail = "already in place"
		} else {
			r.Detail = "not present"
		}
	}
	return r
}

func kindsHint(kinds string) string {
	if kinds == "" {
		return ""
	}
	return " of kind " + kinds
}

func printChange(w io.Writer, l layout, out changeOutput, ncerts int) {
	t := newTable(idCol("STORE"), textCol("RESULT"))
	for _, r := range out.Stores {
		detail := r.Detail
		switch r.Status {
		case outcomeError:
			detail = "error: " + detail
		case outcomeNeedsRoot:
			detail = "needs root: " + detail
		}
		t.row(r.ID, detail)
	}
	t.render(w, l)
	unchanged := len(out.Stores) - out.Changed - out.Failed - out.NeedsRoot
	verb := "changed"
	if out.DryRun {
		verb = "would change (dry run: nothing was written)"
	}
	var summary string
	switch {
	case len(out.Stores) == 0:
		summary = "no trust store found"
	case out.Changed == 0 && out.Failed == 0 && out.NeedsRoot == 0 && out.Action == "install":
		summary = "nothing to do: every store already has the CA"
		if ncerts > 1 {
			summary = "nothing to do: every store already has the CAs"
		}
	case out.Changed == 0 && out.Failed == 0 && out.NeedsRoot == 0:
		summary = "nothing to do: no store holds the CA"
		if ncerts > 1 {
			summary = "nothing to do: no store holds the CAs"
		}
	default:
		parts := []string{plural(out.Changed, "store", "stores") + " " + verb}
		if unchanged > 0 {
			word := "already in place"
			if out.Action == "remove" {
				word = "without it"
			}
			parts = append(parts, fmt.Sprintf("%d %s", unchanged, word))
		}
		if out.NeedsRoot > 0 {
			parts = append(parts, fmt.Sprintf("%s root (run as root: sudo anchorwatch %s …)", plural(out.NeedsRoot, "store needs", "stores need"), out.Action))
		}
		if out.Failed > 0 {
			parts = append(parts, fmt.Sprintf("%d failed", out.Failed))
		}
		summary = strings.Join(parts, ", ")
	}
	printWrapped(w, l, 2, summary)
}

// describeChanges says what happened to each certificate, e.g.
// `added "Corp CA" (sha256 1234…)`.
func describeChanges(cs []stores.Change, certs []*x509.Certificate, dryRun bool) string {
	names := map[string]string{}
	for _, c := range certs {
		names[stores.SHA256(c)] = caName(c)
	}
	verbs := map[string]string{stores.ActionAdded: "added", stores.ActionTrusted: "trust fixed for", stores.ActionRemoved: "removed"}
	if dryRun {
		verbs = map[string]string{stores.ActionAdded: "would add", stores.ActionTrusted: "would fix trust for", stores.ActionRemoved: "would remove"}
	}
	var parts []string
	for _, c := range cs {
		if c.Action == stores.ActionUnchanged {
			continue
		}
		n := names[c.SHA256]
		if n == "" && len(c.SHA256) >= 16 {
			n = "sha256 " + c.SHA256[:16] + "…"
		}
		v := verbs[c.Action]
		if v == "" {
			v = c.Action
		}
		parts = append(parts, v+" "+n)
	}
	return strings.Join(parts, "; ")
}
