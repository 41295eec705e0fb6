package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/stores"
)

// storesOutput is the JSON of `anchorwatch stores`.
type storesOutput struct {
	Root   string          `json:"root"`
	Stores []stores.Info   `json:"stores"`
	Errors []stores.Result `json:"errors,omitempty"` // adapters whose discovery failed
}

func newStoresCmd(d hostDeps) *cobra.Command {
	var f hostFlags
	cmd := &cobra.Command{
		Use:   "stores",
		Short: "List every trust store on the host",
		Long: `List every trust store found on the host (or under --root): its kind, location,
format, the user that owns it and whether this user may write it ("needs root"
when only root may). Stores that were found but cannot be handled are listed too,
with the reason.

Exit status: 0, or 1 when the discovery of some store kind failed.`,
		Example: `  anchorwatch stores
  anchorwatch stores --root /mnt/image --json`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, kinds, err := f.env(cmd)
			if err != nil {
				return err
			}
			found := d.find(cmd.Context(), env, kinds)
			out := storesOutput{Root: env.Root, Stores: []stores.Info{}, Errors: found.failed}
			for _, s := range found.stores {
				out.Stores = append(out.Stores, stores.CheckAccess(env, s.Info()))
			}
			w := cmd.OutOrStdout()
			if f.json {
				if err := printJSON(w, out); err != nil {
					return err
				}
			} else {
				warnDiscovery(cmd.ErrOrStderr(), found.failed)
				printStores(w, termLayout(cmd), out)
			}
			if len(found.failed) > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	f.register(cmd, true)
	return cmd
}

func printStores(w io.Writer, l layout, out storesOutput) {
	t := newTable(col("KIND"), idCol("PATH"), idCol("FORMAT"), col("OWNER"), idCol("APP"), col("WRITABLE"), textCol("NOTE"))
	for _, i := range out.Stores {
		t.row(string(i.Kind), i.Path, dash(i.Format), dash(i.Owner), dash(i.App), writableText(i), i.Note)
	}
	t.render(w, l)
	printWrapped(w, l, 2, fmt.Sprintf("%s under %s", plural(len(out.Stores), "store", "stores"), out.Root))
}

// writableText is the WRITABLE column: yes, no, or what it takes.
func writableText(i stores.Info) string {
	if !i.Writable && i.NeedsRoot {
		return "needs root"
	}
	return yesNo(i.Writable)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
