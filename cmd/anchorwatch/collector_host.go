package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/db"
)

// newCollectorHostCmd administers enrolled hosts: the flagged ones (a
// machine id enrolled again without its host key), node key revocation,
// merge, retire and delete.
func newCollectorHostCmd(dbf *collectorDB) *cobra.Command {
	cmd := &cobra.Command{Use: "host", Short: "Administer enrolled hosts: flagged enrollments, node keys, merge, retire, delete"}
	hostAction := func(use, short string, fn func(cmd *cobra.Command, st *db.Store, id int64) error) *cobra.Command {
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
	cmd.AddCommand(newCollectorHostListCmd(dbf),
		hostAction("revoke-node-key", "Revoke a host's node key; its agent enrolls again with its host key",
			func(cmd *cobra.Command, st *db.Store, id int64) error { return st.RevokeNodeKey(cmd.Context(), id) }),
		hostAction("merge", "Merge a flagged host (a re-imaged machine) into the host it claims to be",
			func(cmd *cobra.Command, st *db.Store, id int64) error {
				into, err := st.MergeHost(cmd.Context(), id)
				if err == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "host %d merged into host %d\n", id, into)
				}
				return err
			}),
		hostAction("retire", "Retire a host (a decommissioned machine): it leaves every compliance figure, keeps its history, and is active again if it reports",
			func(cmd *cobra.Command, st *db.Store, id int64) error {
				err := st.RetireHost(cmd.Context(), id, "retired by an administrator (collector host retire)")
				if err == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "host %d retired\n", id)
				}
				return err
			}),
		hostAction("delete", "Delete a host (an impostor, a clone) with its history; its node key stops working",
			func(cmd *cobra.Command, st *db.Store, id int64) error {
				err := st.DeleteHost(cmd.Context(), id)
				if err == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "host %d deleted\n", id)
				}
				return err
			}),
	)
	return cmd
}

func newCollectorHostListCmd(dbf *collectorDB) *cobra.Command {
	var flagged, retired, all, asJSON bool
	list := &cobra.Command{
		Use: "list [--flagged] [--retired | --all] [--json]", Short: "List active hosts (--flagged: possible clones or impersonations; --retired, --all)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if retired && all {
				return usageErr(fmt.Errorf("--retired and --all exclude each other"))
			}
			st, err := dbf.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			f := db.HostFilter{Flagged: flagged, Limit: 1000}
			switch {
			case retired:
				f.Retired = db.RetiredOnly
			case all:
				f.Retired = db.AnyRetired
			}
			hosts := []api.HostSummary{}
			if err := st.EachHost(cmd.Context(), f, func(h api.HostSummary) error { hosts = append(hosts, h); return nil }); err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(hosts)
			}
			printHosts(cmd, hosts, retired || all)
			return nil
		},
	}
	list.Flags().BoolVar(&flagged, "flagged", false, "only hosts flagged as a possible clone or impersonation")
	list.Flags().BoolVar(&retired, "retired", false, "only retired hosts")
	list.Flags().BoolVar(&all, "all", false, "active and retired hosts")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	addWideFlag(list)
	return list
}

// printHosts prints the hosts; the RETIRED column only when retired hosts
// are listed.
func printHosts(cmd *cobra.Command, hosts []api.HostSummary, withRetired bool) {
	cols := []column{col("ID"), idCol("HOSTNAME"), idCol("MACHINE ID"), col("KEY"), col("LAST SEEN"), col("CLONE OF")}
	if withRetired {
		cols = append(cols, col("RETIRED"))
	}
	t := newTable(cols...)
	for _, h := range hosts {
		key, of, ret := "no", "-", "-"
		if h.KeyBound {
			key = "bound"
		}
		if h.ConflictOf != 0 {
			of = strconv.FormatInt(h.ConflictOf, 10)
		}
		if !h.RetiredAt.IsZero() {
			ret = h.RetiredAt.UTC().Format(time.DateOnly)
		}
		t.row(strconv.FormatInt(h.ID, 10), h.Hostname, h.MachineID, key, h.LastSeen.UTC().Format("2006-01-02T15:04Z"), of, ret)
	}
	t.render(cmd.OutOrStdout(), termLayout(cmd))
}
