package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/server"
)

// lifecycleFlags are the fleet lifecycle and retention flags of
// `collector serve`.
type lifecycleFlags struct {
	staleAfter, retireAfter, events, snapshots, reports days
}

func (l *lifecycleFlags) register(cmd *cobra.Command) {
	l.staleAfter, l.retireAfter = days(server.DefaultStaleAfter), days(server.DefaultRetireAfter)
	l.events, l.snapshots, l.reports = days(server.DefaultEventRetention), days(server.DefaultSnapshotRetention), days(30*24*time.Hour)
	f := cmd.Flags()
	f.Var(&l.staleAfter, "stale-after", "an active host not seen for this long is stale (summary, host lists, metrics)")
	f.Var(&l.retireAfter, "retire-after", "retire hosts not seen for this long: they leave every compliance figure until they report again (0: never)")
	f.Var(&l.events, "event-retention", "delete events received longer ago than this (0: keep them all)")
	f.Var(&l.snapshots, "snapshot-retention", "delete hourly compliance snapshots older than this (0: keep them all)")
	f.Var(&l.reports, "report-id-retention", "keep report ids this long to recognise a report sent again")
}

// apply sets the lifecycle fields of cfg (0 on the command line, "never",
// is a negative value there).
func (l *lifecycleFlags) apply(cfg *server.Config) {
	never := func(d days) time.Duration {
		if d == 0 {
			return -1
		}
		return time.Duration(d)
	}
	cfg.StaleAfter, cfg.RetireAfter = time.Duration(l.staleAfter), never(l.retireAfter)
	cfg.EventRetention, cfg.SnapshotRetention = never(l.events), never(l.snapshots)
	cfg.ReportRetention = time.Duration(l.reports)
}

// days is a duration flag that also takes whole days ("30d").
type days time.Duration

func (d *days) String() string {
	v := time.Duration(*d)
	if v > 0 && v%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(v/(24*time.Hour)), 10) + "d"
	}
	return v.String()
}

func (d *days) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return fmt.Errorf("%q: use a duration such as 12h or a number of days such as 30d", s)
		}
		*d = days(time.Duration(v) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q: use a duration such as 12h or a number of days such as 30d", s)
	}
	*d = days(v)
	return nil
}

func (d *days) Type() string { return "duration" }
