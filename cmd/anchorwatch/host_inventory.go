package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/inventory"
)

// inventoryStore is one store in `anchorwatch inventory --json`.
type inventoryStore struct {
	ID      string      `json:"id"`
	Kind    stores.Kind `json:"kind"`
	Path    string      `json:"path"`
	Status  string      `json:"status"` // ok, error
	Detail  string      `json:"detail,omitempty"`
	Anchors int         `json:"anchors"`
}

// inventoryOutput is the JSON of `anchorwatch inventory`.
type inventoryOutput struct {
	Root    string                  `json:"root"`
	Summary map[inventory.Class]int `json:"summary"`
	Stores  []inventoryStore        `json:"stores"`
	Anchors []inventory.Entry       `json:"anchors"`
}

// newInventoryCmd is the `inventory` command.
// Long: the command's flags, help text and RunE are declared together,
// as cobra commands are; the work is in the functions RunE calls.
func newInventoryCmd(d hostDeps) *cobra.Command {
	var (
		f       hostFlags
		cas     []string
		classes string
	)
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "List every trust anchor in every store, classified",
		Long: `List every trust anchor in every store and classify each one:

  blocked  on the built-in blocklist of known-bad roots (Superfish, eDellRoot,
           DSDTestProvider, the Kazakhstan interception roots), by certificate
           or public-key hash
  unknown  neither shipped by a vendor bundle nor one of ours: investigate
  managed  one of ours: given with --ca, or written by Anchorwatch
  vendor   shipped with the OS, JDK or NSS bundle

A certificate held by several stores is listed once, with every store. PURPOSES
is what the stores trust it for, where they say (--json: per store, the
purposes of each location; "any" is every purpose).

Exit status: 0; 1 when a blocked root is present in any store; 2 on a usage
error or when no store could be read.`,
		Example: `  anchorwatch inventory --ca corp-ca.pem --class unknown,blocked
  anchorwatch inventory --json | jq '.anchors[] | select(.class == "unknown")'`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			certs, err := loadCAs(cmd.ErrOrStderr(), cas)
			if err != nil {
				return err
			}
			only, err := inventory.ParseClasses(classes)
			if err != nil {
				return usageErr(fmt.Errorf("--class: %w", err))
			}
			env, kinds, err := f.env(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			found := d.find(ctx, env, kinds)
			contents := make([]inventory.StoreAnchors, len(found.stores))
			sts := make([]inventoryStore, len(found.stores))
			parallel(ctx, found.stores, func(ctx context.Context, i int, s stores.Store) {
				info := s.Info()
				st := inventoryStore{ID: info.ID, Kind: info.Kind, Path: info.Path, Status: "ok"}
				contents[i].Store = info
				if info.Note != "" {
					st.Status, st.Detail = "error", info.Note
				} else if anchors, err := s.List(ctx); err != nil {
					st.Status, st.Detail = "error", err.Error()
				} else {
					contents[i].Anchors = anchors
					st.Anchors = len(anchors)
				}
				sts[i] = st
			})
			for _, fr := range found.failed {
				sts = append(sts, inventoryStore{ID: fr.ID, Kind: fr.Kind, Path: fr.Path, Status: "error", Detail: fr.Detail})
			}
			managed := map[string]bool{}
			for _, c := range certs {
				managed[stores.SHA256(c)] = true
			}
			all := inventory.Classify(contents, inventory.Options{Managed: managed, Blocklist: d.blocklist})
			out := inventoryOutput{Root: env.Root, Summary: inventory.Count(all), Stores: sts, Anchors: inventory.Filter(all, only...)}
			if out.Anchors == nil {
				out.Anchors = []inventory.Entry{}
			}
			read := 0
			for _, s := range sts {
				if s.Status == "ok" {
					read++
				}
			}
			w := cmd.OutOrStdout()
			if f.json {
				if err := printJSON(w, out); err != nil {
					return err
				}
			} else {
				printInventory(w, cmd.ErrOrStderr(), termLayout(cmd), out, len(all))
			}
			switch {
			case read == 0:
				return &exitError{code: 2, err: fmt.Errorf("inventory: no store could be read under %s%s", env.Root, kindsHint(f.kinds))}
			case out.Summary[inventory.Blocked] > 0:
				return &exitError{code: 1}
			}
			return nil
		},
	}
	f.register(cmd, true)
	cmd.Flags().StringArrayVar(&cas, "ca", nil, "CA certificate `FILE` that counts as managed (repeatable)")
	cmd.Flags().StringVar(&classes, "class", "", "show only these `CLASSES` (comma-separated: blocked,unknown,managed,vendor)")
	return cmd
}

func printInventory(w, errw io.Writer, l layout, out inventoryOutput, total int) {
	for _, s := range out.Stores {
		if s.Status != "ok" {
			printWrapped(errw, l, 2, fmt.Sprintf("warning: %s: %s", s.ID, s.Detail))
		}
	}
	t := newTable(col("CLASS"), idCol("SUBJECT"), idCol("SHA256"), col("NOT AFTER"), idCol("STORES"), col("PURPOSES"))
	for _, e := range out.Anchors {
		where := e.Stores[0].ID
		if len(e.Stores) > 1 {
			where = fmt.Sprintf("%d stores", len(e.Stores))
		}
		na := "-"
		if !e.NotAfter.IsZero() {
			na = e.NotAfter.Format("2006-01-02")
		}
		fp := e.SHA256
		if !l.wide {
			fp = shortenMiddle(fp, 17)
		}
		t.row(string(e.Class), dash(e.Subject), fp, na, where, anchorPurposes(e))
	}
	t.render(w, l)
	for _, e := range out.Anchors {
		if e.Class == inventory.Blocked || e.Class == inventory.Unknown {
			ids := make([]string, len(e.Stores))
			for i, l := range e.Stores {
				ids[i] = l.ID
			}
			printWrapped(w, l, 2, fmt.Sprintf("%s %s: %s; in %s", e.Class, dash(e.Subject), e.Reason, strings.Join(ids, ", ")))
		}
	}
	ok := 0
	for _, s := range out.Stores {
		if s.Status == "ok" {
			ok++
		}
	}
	n := out.Summary
	printWrapped(w, l, 2, fmt.Sprintf("%s in %s: %d blocked, %d unknown, %d managed, %d vendor",
		plural(total, "anchor", "anchors"), plural(ok, "store", "stores"),
		n[inventory.Blocked], n[inventory.Unknown], n[inventory.Managed], n[inventory.Vendor]))
}

// anchorPurposes renders what the stores holding e trust it for ("-" when
// none says).
func anchorPurposes(e inventory.Entry) string {
	var ps []stores.Purpose
	for _, l := range e.Stores {
		ps = append(ps, l.Purposes...)
	}
	if len(ps) == 0 {
		return "-"
	}
	return strings.ReplaceAll(stores.JoinPurposes(stores.SortPurposes(ps)), " ", "")
}
