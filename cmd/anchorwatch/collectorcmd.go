package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newCollectorCmd is a placeholder until the collector commands land.
func newCollectorCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "collector",
		Short:  "collector commands (not yet available)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("collector: not yet available in this build")
		},
	}
}
