package agent

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/kardianos/service"
)

// ServiceName is the agent's service name on every platform.
const ServiceName = "anchorwatch-agent"

// SystemdUnit returns the systemd unit of the agent service that runs exe
// with args: restart on failure, SIGHUP for a rescan, after the network is
// up. It is the unit `agent install` writes on systemd and the one the deb
// and rpm packages ship (installers), so the two never differ.
func SystemdUnit(exe string, args []string) string {
	var cmd strings.Builder
	cmd.WriteString(systemdEscape(exe, false))
	for _, a := range args {
		cmd.WriteString(" " + systemdEscape(a, true))
	}
	return `[Unit]
Description=` + ServiceDescription + `
ConditionFileIsExecutable=` + systemdEscape(exe, false) + `
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=` + cmd.String() + `
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=5
KillMode=mixed

[Install]
WantedBy=multi-user.target
`
}

// LaunchdLabel is the agent's launchd job label, and LaunchdPlistPath
// where its definition lives on macOS.
const (
	LaunchdLabel     = ServiceName
	LaunchdPlistPath = "/Library/LaunchDaemons/" + ServiceName + ".plist"
	launchdLogPath   = "/Library/Logs/" + ServiceName + ".log"
)

// LaunchdPlist returns the launchd job of the agent service that runs exe
// with args: started at load, restarted whenever it exits, its output in
// /Library/Logs. It is the job `agent install` writes on macOS and the one
// the pkg ships, so the two never differ.
func LaunchdPlist(exe string, args []string) string {
	var b strings.Builder
	esc := func(s string) string {
		var e strings.Builder
		_ = xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>` + esc(LaunchdLabel) + `</string>
	<key>ProgramArguments</key>
	<array>
`)
	for _, a := range append([]string{exe}, args...) {
		b.WriteString("\t\t<string>" + esc(a) + "</string>\n")
	}
	b.WriteString(`	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<true/>
	<key>StandardOutPath</key>
	<string>` + launchdLogPath + `</string>
	<key>StandardErrorPath</key>
	<string>` + launchdLogPath + `</string>
</dict>
</plist>
`)
	return b.String()
}

// RunArgs are the arguments the agent service runs the binary with.
func RunArgs(configPath string) []string {
	return []string{"agent", "run", "--config", configPath}
}

// systemdEscape writes s for a unit file: specifiers (%) and variable
// references ($) taken literally, and, for an argument, double quotes
// around it; a path has its spaces escaped instead.
func systemdEscape(s string, quote bool) string {
	s = strings.NewReplacer(`%`, `%%`, `$`, `$$`, `\`, `\\`).Replace(s)
	if quote {
		return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
	}
	return strings.ReplaceAll(s, " ", `\x20`)
}

// ServiceDescription is what service managers show for the agent.
const ServiceDescription = "Keeps the organization's CA in every trust store of this host and reports to the Anchorwatch collector."

// ServiceOptions describe the agent service to install or control.
type ServiceOptions struct {
	// Name defaults to ServiceName (tests use another).
	Name string
	// ConfigPath is the agent config the service runs with.
	ConfigPath string
	// Root, when set, is passed as --root.
	Root string
	// Executable defaults to the running binary.
	Executable string
	// System picks the service manager; nil means the platform's.
	System service.System
}

// ServiceConfig returns the kardianos configuration of the agent service.
func ServiceConfig(o ServiceOptions) (*service.Config, error) {
	if o.Name == "" {
		o.Name = ServiceName
	}
	if o.ConfigPath == "" {
		return nil, errors.New("agent service: --config is required")
	}
	cfgPath, err := filepath.Abs(o.ConfigPath)
	if err != nil {
		return nil, err
	}
	args := RunArgs(cfgPath)
	if o.Root != "" {
		root, err := filepath.Abs(o.Root)
		if err != nil {
			return nil, err
		}
		args = append(args, "--root", root)
	}
	exe := o.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("agent service: %w", err)
		}
	}
	if strings.Contains(exe+strings.Join(args, ""), "{{") {
		return nil, fmt.Errorf("agent service: %q: a path with {{ cannot go into a service definition", exe+" "+strings.Join(args, " "))
	}
	return &service.Config{
		Name:        o.Name,
		DisplayName: "Anchorwatch agent",
		Description: ServiceDescription,
		Executable:  exe,
		Arguments:   args,
		Option: service.KeyValue{
			"SystemdScript":    SystemdUnit(exe, args),
			"LaunchdConfig":    LaunchdPlist(exe, args),
			"Restart":          "always",
			"ReloadSignal":     "HUP",
			"KeepAlive":        true, // launchd
			"RunAtLoad":        true, // launchd
			"OnFailure":        "restart",
			"DelayedAutoStart": true,
		},
	}, nil
}

// SystemByName returns the service manager called name (e.g.
// "linux-systemd"), whether or not it is the one running.
func SystemByName(name string) (service.System, error) {
	var names []string
	for _, s := range service.AvailableSystems() {
		if s.String() == name {
			return s, nil
		}
		names = append(names, s.String())
	}
	return nil, fmt.Errorf("no service manager %q on %s (have: %s)", name, runtime.GOOS, strings.Join(names, ", "))
}

// NewService builds the service for prog (nil for control-only use).
func NewService(prog service.Interface, o ServiceOptions) (service.Service, error) {
	cfg, err := ServiceConfig(o)
	if err != nil {
		return nil, err
	}
	if prog == nil {
		prog = &Program{}
	}
	if o.System != nil {
		return o.System.New(prog, cfg)
	}
	return service.New(prog, cfg)
}

// systemdRunning reports whether systemd is the running init.
func systemdRunning() bool {
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}

// UnitPath is where the systemd unit of the named service lives.
func UnitPath(name string) string { return "/etc/systemd/system/" + name + ".service" }

// Control runs install, uninstall, start, stop or restart. On a systemd
// layout whose systemd is not running (an image being built, a
// container), install and uninstall still write and enable (or disable
// and remove) the unit; only the daemon reload is impossible and is
// skipped with a note.
func Control(svc service.Service, name, action string) (note string, err error) {
	if name == "" {
		name = ServiceName
	}
	if action == "install" && svc.Platform() == "linux-systemd" {
		if _, serr := os.Stat(UnitPath(name)); serr == nil {
			return "", fmt.Errorf("%s is already installed (%s): uninstall it first", name, UnitPath(name))
		}
	}
	err = service.Control(svc, action)
	if err == nil || svc.Platform() != "linux-systemd" || systemdRunning() {
		return "", err
	}
	switch action {
	case "install":
		if _, serr := os.Stat(UnitPath(name)); serr == nil && isEnabled(name) {
			return "systemd is not running: the unit is installed and enabled and starts at the next boot", nil
		}
	case "uninstall":
		if _, serr := os.Stat(UnitPath(name)); errors.Is(serr, os.ErrNotExist) {
			return "systemd is not running: the unit is disabled and removed", nil
		}
	}
	return "", err
}

func isEnabled(name string) bool {
	out, err := exec.Command("systemctl", "is-enabled", name+".service").Output()
	return err == nil && strings.TrimSpace(string(out)) == "enabled"
}

// Program runs the agent under a service manager.
type Program struct {
	// Run runs the agent until ctx is done.
	Run func(ctx context.Context) error

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
}

// Start implements service.Interface: it must not block.
func (p *Program) Start(service.Service) error {
	if p.Run == nil {
		return errors.New("agent service: nothing to run")
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.mu.Lock()
	p.cancel, p.done = cancel, make(chan error, 1)
	p.mu.Unlock()
	go func() { p.done <- p.Run(ctx) }()
	return nil
}

// Stop implements service.Interface.
func (p *Program) Stop(service.Service) error {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	return <-done
}

// ServiceLogHandler returns a slog handler writing to the service
// manager's log (the Windows event log); on systemd and launchd plain
// stderr already lands in the journal / system log.
func ServiceLogHandler(l service.Logger, level slog.Leveler) slog.Handler {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.Contains(line, "level=ERROR"):
				_ = l.Error(line)
			case strings.Contains(line, "level=WARN"):
				_ = l.Warning(line)
			default:
				_ = l.Info(line)
			}
		}
	}()
	return slog.NewTextHandler(pw, &slog.HandlerOptions{Level: level})
}
