package main

import "github.com/spf13/cobra"

// collectorUsage makes every usage error of the collector commands exit
// with status 2 and the hint of every other command (usage.go; the root
// applies the same to the whole tree, so a collector command built alone,
// as tests do, behaves as it does in the binary).
func collectorUsage(cmd *cobra.Command) { usageTree(cmd) }
