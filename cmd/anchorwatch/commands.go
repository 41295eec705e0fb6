package main

import "github.com/spf13/cobra"

// extraCommands lists the command groups beyond the host commands. Each
// group lives in its own file.
func extraCommands() []*cobra.Command {
	return []*cobra.Command{
		newPolicyCmd(),
		newAgentCmd(),
		newCollectorCmd(),
		newPackageCmd(),
		newCACmd(),
		newProxyCmd(),
	}
}
