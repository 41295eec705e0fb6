package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newAgentCmd is a placeholder until the agent commands land.
func newAgentCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "agent",
		Short:  "agent commands (not yet available)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("agent: not yet available in this build")
		},
	}
}
