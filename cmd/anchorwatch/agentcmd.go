package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/kardianos/service"
	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/agent"
	"github.com/anchorwatch/anchorwatch/stores"
)

// newAgentCmd groups the agent: run in the foreground, or install and
// control it as a system service.
func newAgentCmd() *cobra.Command {
	var cfgPath, root string
	c := &cobra.Command{
		Use:   "agent",
		Short: "Run the agent, or install and control it as a system service",
	}
	c.PersistentFlags().StringVar(&cfgPath, "config", "", "agent config `FILE` (JSON; see docs/agent.md)")
	c.PersistentFlags().StringVar(&root, "root", "", "look up the host's filesystem under `DIR` (overrides the config's root)")

	run := &cobra.Command{
		Use:   "run --config FILE [--root DIR]",
		Short: "Run the agent in the foreground (what the service runs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgent(cmd, cfgPath, root)
		},
	}
	c.AddCommand(run, newAgentConfigureCmd(&cfgPath))
	for _, action := range []string{"install", "uninstall", "start", "stop", "restart"} {
		c.AddCommand(&cobra.Command{
			Use:   action + " --config FILE",
			Short: action + " the agent system service",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return controlAgent(cmd, cfgPath, root, action)
			},
		})
	}
	c.AddCommand(&cobra.Command{
		Use:   "status --config FILE",
		Short: "Show the service state and what the agent last saw (JSON); exit 1 when it reports a problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return agentStatus(cmd, cfgPath, root)
		},
	})
	return c
}

func loadAgentConfig(cfgPath string) (*agent.Config, error) {
	if cfgPath == "" {
		return nil, usageErr(errors.New("--config FILE is required"))
	}
	cfg, err := agent.LoadConfig(cfgPath)
	if err != nil {
		return nil, usageErr(err)
	}
	return cfg, nil
}

func checkRoot(root string) (string, error) {
	if root == "" {
		return "", nil
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", usageErr(fmt.Errorf("--root %s: %w", root, err))
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return "", usageErr(fmt.Errorf("--root %s is not a directory", root))
	}
	return abs, nil
}

func runAgent(cmd *cobra.Command, cfgPath, root string) error {
	cfg, err := loadAgentConfig(cfgPath)
	if err != nil {
		return err
	}
	if root == "" && cfg.Root == "" {
		root = defaultRoot()
	}
	if root, err = checkRoot(root); err != nil {
		return err
	}
	level := new(slog.LevelVar)
	level.Set(cfg.Level())
	interactive := service.Interactive()
	var handler slog.Handler = slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level})
	prog := &agent.Program{}
	svc, err := agent.NewService(prog, agent.ServiceOptions{ConfigPath: cfgPath, Root: root})
	if err != nil {
		return err
	}
	if !interactive && runtime.GOOS == "windows" {
		// Under the service manager stderr goes nowhere: use the event log.
		if l, err := svc.Logger(nil); err == nil {
			handler = agent.ServiceLogHandler(l, level)
		}
	}
	log := slog.New(handler)
	reload := make(chan struct{}, 1)
	prog.Run = func(ctx context.Context) error {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					select {
					case reload <- struct{}{}:
					default:
					}
				}
			}
		}()
		a, err := agent.New(agent.Options{Config: cfg, Root: root, Version: version, Log: log, Reload: reload})
		if err != nil {
			return err
		}
		return a.Run(ctx)
	}
	if interactive {
		return prog.Run(cmd.Context())
	}
	return svc.Run()
}

func controlAgent(cmd *cobra.Command, cfgPath, root, action string) error {
	if action == "install" {
		if _, err := loadAgentConfig(cfgPath); err != nil {
			return err
		}
	}
	var err error
	if root, err = checkRoot(root); err != nil {
		return err
	}
	if cfgPath == "" {
		cfgPath = "/etc/anchorwatch/agent.json" // only the name matters for everything but install
	}
	svc, err := agent.NewService(nil, agent.ServiceOptions{ConfigPath: cfgPath, Root: root})
	if err != nil {
		return err
	}
	note, err := agent.Control(svc, agent.ServiceName, action)
	if err != nil {
		return fmt.Errorf("agent %s (%s): %w", action, svc.Platform(), err)
	}
	if note != "" {
		fmt.Fprintln(cmd.ErrOrStderr(), note)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "agent service %s: done (%s)\n", action, svc.Platform())
	return nil
}

func agentStatus(cmd *cobra.Command, cfgPath, root string) error {
	cfg, err := loadAgentConfig(cfgPath)
	if err != nil {
		return err
	}
	svc, err := agent.NewService(nil, agent.ServiceOptions{ConfigPath: cfgPath, Root: root})
	if err != nil {
		return err
	}
	state := "unknown"
	if s, err := svc.Status(); err == nil {
		state = map[service.Status]string{service.StatusRunning: "running", service.StatusStopped: "stopped"}[s]
	} else if errors.Is(err, service.ErrNotInstalled) {
		state = "not installed"
	}
	dir := cfg.StateDir
	if dir == "" {
		dir = agent.DefaultStateDir
	}
	st, serr := agent.ReadStatus(dir)
	out := struct {
		Service string        `json:"service"`
		Agent   *agent.Status `json:"agent,omitempty"`
		Error   string        `json:"error,omitempty"`
	}{Service: state}
	if serr == nil {
		out.Agent = &st
		// Ask a running agent for a fresh look — only if that PID is still
		// an anchorwatch agent (a stale status file may name a PID that
		// now belongs to another program).
		if isAgentProcess(st.PID) {
			if p, err := os.FindProcess(st.PID); err == nil {
				_ = p.Signal(syscall.SIGHUP)
			}
		}
	} else {
		out.Error = serr.Error()
	}
	if err := printJSON(cmd.OutOrStdout(), out); err != nil {
		return err
	}
	if problem := statusProblem(out.Error, st); problem != "" {
		return &exitError{code: exitFailed, err: errors.New("agent status: " + problem)}
	}
	return nil
}

// statusProblem names what makes `agent status` exit 1: its status could
// not be read, or what the agent last saw is not in order (an error, a
// policy problem or an expired policy, a store that is not compliant).
func statusProblem(readErr string, st agent.Status) string {
	var bad []string
	for _, s := range st.Stores {
		if s.Status != stores.StatusCompliant {
			bad = append(bad, s.ID+" "+string(s.Status))
		}
	}
	switch {
	case readErr != "":
		return readErr
	case st.LastError != "":
		return "last error: " + st.LastError
	case st.PolicyProblem != "":
		return "policy: " + st.PolicyProblem
	case st.PolicyState == "expired":
		return "the policy in force has expired"
	case len(bad) > 0:
		return fmt.Sprintf("%s not compliant: %s", plural(len(bad), "store", "stores"), strings.Join(bad, ", "))
	}
	return ""
}

// isAgentProcess reports whether pid runs "anchorwatch agent run" (Linux:
// from /proc; elsewhere it is never signalled).
func isAgentProcess(pid int) bool {
	if pid <= 0 || runtime.GOOS != "linux" {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "agent" && args[i+1] == "run" {
			return true
		}
	}
	return false
}
