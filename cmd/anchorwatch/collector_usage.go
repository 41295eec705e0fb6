package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// collectorUsage makes every usage error of cmd and its subcommands exit
// with status 2, as the host commands do: a wrong number of arguments
// (cobra's Args checks return plain errors, which would exit 1), and an
// unknown or missing subcommand of a command group (which cobra would
// answer with help and status 0). Flag errors already exit 2 through the
// root's flag error function.
func collectorUsage(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		collectorUsage(c)
	}
	if cmd.HasSubCommands() && !cmd.Runnable() {
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr(fmt.Errorf("unknown command %q for %q: see %s --help", args[0], c.CommandPath(), c.CommandPath()))
			}
			fmt.Fprint(c.ErrOrStderr(), c.UsageString())
			return usageErr(fmt.Errorf("%s needs a subcommand", c.CommandPath()))
		}
		return
	}
	if orig := cmd.Args; orig != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			err := orig(c, args)
			var ee *exitError
			if err == nil || errors.As(err, &ee) {
				return err
			}
			return usageErr(fmt.Errorf("%s: %w (usage: %s)", c.CommandPath(), err, c.UseLine()))
		}
	}
}
