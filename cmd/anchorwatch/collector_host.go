package main

import (
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/server/store"
)

// newCollectorHostCmd administers enrolled hosts: the flagged ones (a
// machine id enrolled again without its host key), node key revocation,
// merge and retire.
func newCollectorHostCmd(dbf *collectorDB) *cobra.Command {
	cmd := &cobra.Command{Use: "host", Short: "Administer enrolled hosts: flagged enrollments, node keys, merge, retire"}
	var flagged bool
	list := &cobra.Command{
		Use: "list [--flagged]", Short: "List hosts (--flagged: possible clones or impersonations)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := dbf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tHOSTNAME\tMACHINE ID\tKEY\tLAST SEEN\tCONFLICT OF")
			f := store.HostFilter{Flagged: flagged, Limit: 1000}
			for {
				page, err := st.ListHosts(cmd.Context(), f)
				if err != nil {
					return err
				}
				for _, h := range page.Hosts {
					key, of := "no", "-"
					if h.KeyBound {
						key = "bound"
					}
					if h.ConflictOf != 0 {
						of = strconv.FormatInt(h.ConflictOf, 10)
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", h.ID, h.Hostname, h.MachineID, key, h.LastSeen.UTC().Format(time.RFC3339), of)
				}
				if page.NextCursor == "" {
					return tw.Flush()
				}
				if f.AfterID, err = store.ParseCursor(page.NextCursor); err != nil {
					return err
				}
			}
		},
	}
	list.Flags().BoolVar(&flagged, "flagged", false, "only hosts flagged as a possible clone or impersonation")
	hostAction := func(use, short string, fn func(cmd *cobra.Command, st *store.Store, id int64) error) *cobra.Command {
		return &cobra.Command{
			Use: use + " ID", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := strconv.ParseInt(args[0], 10, 64)
				if err != nil || id <= 0 {
					return usageErr(fmt.Errorf("host id %q: not a positive integer (see `collector host list`)", args[0]))
				}
				st, err := dbf.open(cmd.Context())
				if err != nil {
					return err
				}
				defer st.Close()
				return fn(cmd, st, id)
			},
		}
	}
	cmd.AddCommand(list,
		hostAction("revoke-node-key", "Revoke a host's node key; its agent enrolls again with its host key",
			func(cmd *cobra.Command, st *store.Store, id int64) error { return st.RevokeNodeKey(cmd.Context(), id) }),
		hostAction("merge", "Merge a flagged host (a re-imaged machine) into the host it claims to be",
			func(cmd *cobra.Command, st *store.Store, id int64) error {
				into, err := st.MergeHost(cmd.Context(), id)
				if err == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "host %d merged into host %d\n", id, into)
				}
				return err
			}),
		hostAction("retire", "Remove a host (an impostor, a clone, a decommissioned machine) and its node key",
			func(cmd *cobra.Command, st *store.Store, id int64) error { return st.DeleteHost(cmd.Context(), id) }),
	)
	return cmd
}
