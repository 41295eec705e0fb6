package main

import "github.com/spf13/cobra"

// hostCommands are the commands that act on this host's trust stores.
func hostCommands() []*cobra.Command {
	return nil
}
