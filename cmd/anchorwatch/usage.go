package main

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/policy"
)

// The exit status of every command:
//
//	0  done: compliant, changed, verified, written
//	1  ran, and the answer is no: a store is not compliant or failed, a
//	   check failed, a service or a server answered with an error
//	2  usage or input error: unknown command or flag, wrong arguments,
//	   a file given on the command line that is missing, unreadable or
//	   not what it should be
const (
	exitFailed = 1
	exitUsage  = 2
)

// usageErr makes err exit with status 2.
func usageErr(err error) error { return &exitError{code: exitUsage, err: err} }

// usageErrFor is a usage error of cmd with the hint every usage error
// cobra detects carries: unknown commands, unknown flags, bad flag
// values, wrong arguments.
func usageErrFor(cmd *cobra.Command, err error) error {
	return usageErr(fmt.Errorf("%w\nRun '%s --help' for usage.", err, cmd.CommandPath()))
}

// usageTree makes every usage error of cmd and its subcommands exit with
// status 2 and end with the same hint: a wrong number of arguments
// (cobra's Args checks return plain errors, which would exit 1), an
// unknown or missing subcommand of a command group (which cobra would
// answer with help and status 0, or exit 1 at the top), and an unknown
// flag or bad flag value. A command that declares no Args takes none.
// Applying it twice changes nothing.
func usageTree(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		usageTree(c)
	}
	if cmd.Annotations[annotUsage] != "" {
		return
	}
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[annotUsage] = "1"
	cmd.SetFlagErrorFunc(usageErrFor)
	if cmd.HasSubCommands() && !cmd.Runnable() {
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrFor(c, unknownCommand(c, args[0]))
			}
			fmt.Fprint(c.ErrOrStderr(), c.UsageString())
			return usageErrFor(c, fmt.Errorf("%s needs a subcommand", subPath(c)))
		}
		return
	}
	orig := cmd.Args
	if orig == nil {
		orig = cobra.NoArgs
	}
	cmd.Args = func(c *cobra.Command, args []string) error {
		err := orig(c, args)
		var ee *exitError
		if err == nil || errors.As(err, &ee) {
			return err
		}
		return usageErrFor(c, fmt.Errorf("%s: %w (usage: %s)", subPath(c), err, c.UseLine()))
	}
}

// usageRoot prepares the whole command tree of root: cobra's help and
// completion commands are added first, so that they follow the same
// rules ("help bogus" is an unknown command, not the top-level help).
func usageRoot(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "help" || c.Run == nil {
			continue
		}
		run := c.Run
		c.Run, c.Args = nil, cobra.ArbitraryArgs
		c.RunE = func(c *cobra.Command, args []string) error {
			topic, rest, err := root.Find(args)
			if topic == nil || err != nil || len(rest) > 0 {
				if topic == nil || len(rest) == 0 {
					topic, rest = root, args
				}
				return usageErrFor(topic, unknownCommand(topic, rest[0]))
			}
			run(c, args)
			return nil
		}
	}
	usageTree(root)
}

// subPath is c's path without the program's name, which every error
// message starts with already ("anchorwatch: collector secret add: …").
func subPath(c *cobra.Command) string {
	return strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
}

// annotUsage marks a command usageTree has prepared.
const annotUsage = "anchorwatch/usage"

// unknownCommand names the unknown subcommand, with cobra's suggestions.
func unknownCommand(c *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, c.CommandPath())
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2
	}
	if s := c.SuggestionsFor(name); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return errors.New(msg)
}

// readInputFile reads a file named on the command line, at most limit
// bytes; failing to is an input error (exit 2).
func readInputFile(path string, limit int64) ([]byte, error) {
	data, err := readLimitedFile(path, limit)
	if err != nil {
		return nil, usageErr(err)
	}
	return data, nil
}

// loadCertInput reads a certificate file named on the command line.
func loadCertInput(path string) (*x509.Certificate, error) {
	c, err := policy.LoadCertificate(path)
	if err != nil {
		return nil, usageErr(err)
	}
	return c, nil
}

// loadSignerInput reads a signing certificate and its key named on the
// command line.
func loadSignerInput(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	c, k, err := policy.LoadSigner(certFile, keyFile)
	if err != nil {
		return nil, nil, usageErr(err)
	}
	return c, k, nil
}

// readSignedPolicyFile reads a signed policy named on the command line,
// bounded like every policy blob.
func readSignedPolicyFile(path string) ([]byte, error) {
	return readInputFile(path, policy.MaxSigned)
}
