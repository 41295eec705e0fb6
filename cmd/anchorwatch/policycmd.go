package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newPolicyCmd is a placeholder until the policy commands land.
func newPolicyCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "policy",
		Short:  "policy commands (not yet available)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("policy: not yet available in this build")
		},
	}
}
