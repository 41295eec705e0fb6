package node

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// macOS files Anchorwatch owns.
const (
	LaunchAgentPlist = "/Library/LaunchAgents/com.anchorwatch.env.node-extra-ca-certs.plist"
	launchAgentLabel = "com.anchorwatch.env.node-extra-ca-certs"
	MacOSBundle      = "/Library/Application Support/Anchorwatch/extra-ca-certs.pem"
)

// launchAgent sets the variable in every user's launchd session: a
// LaunchAgent in /Library/LaunchAgents runs `launchctl setenv NAME VALUE`
// at each login, and every application launchd starts afterwards (the
// Terminal and its shells included) inherits it.
type launchAgent struct{ root string }

func (l launchAgent) Where() string { return LaunchAgentPlist }
func (l launchAgent) Format() string {
	return "NODE_EXTRA_CA_CERTS through launchctl setenv (LaunchAgent)"
}
func (l launchAgent) Bundle() (string, string) { return MacOSBundle, MacOSBundle }
func (l launchAgent) RootOf(string) string     { return l.root }

func (l launchAgent) Get(ctx context.Context) (string, bool, error) {
	data, _, err := fsroot.ReadBeneath(ctx, l.root, LaunchAgentPlist, 1<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	args, err := ParseLaunchAgent(data)
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", LaunchAgentPlist, err)
	}
	for i := 0; i+2 < len(args); i++ {
		if args[i] == "setenv" && args[i+1] == Variable {
			return args[i+2], true, nil
		}
	}
	return "", false, nil
}

func (l launchAgent) Set(ctx context.Context, value string, dryRun bool) error {
	data := LaunchAgent(launchAgentLabel, []string{"/bin/launchctl", "setenv", Variable, value})
	_, err := fsroot.Update(ctx, l.root, LaunchAgentPlist, fsroot.UpdateOptions{Mode: 0o644, DryRun: dryRun},
		func([]byte, bool) ([]byte, error) { return data, nil })
	return err
}

func (l launchAgent) Unset(ctx context.Context, dryRun bool) error {
	if dryRun {
		return nil
	}
	return fsroot.Remove(ctx, l.root, LaunchAgentPlist)
}

func (l launchAgent) Watch() stores.WatchSpec {
	hp := hostPath(l.root, LaunchAgentPlist)
	return stores.WatchSpec{Paths: []string{hp, path.Dir(hp)}}
}

// LaunchAgent renders a launchd property list that runs args once at
// load (each login), as plutil and launchd read it.
func LaunchAgent(label string, args []string) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString("<plist version=\"1.0\">\n<dict>\n\t<key>Label</key>\n\t<string>")
	xml.EscapeText(&b, []byte(label))
	b.WriteString("</string>\n\t<key>ProgramArguments</key>\n\t<array>\n")
	for _, a := range args {
		b.WriteString("\t\t<string>")
		xml.EscapeText(&b, []byte(a))
		b.WriteString("</string>\n")
	}
	b.WriteString("\t</array>\n\t<key>RunAtLoad</key>\n\t<true/>\n</dict>\n</plist>\n")
	return b.Bytes()
}

// ParseLaunchAgent returns the ProgramArguments of an XML property list.
func ParseLaunchAgent(data []byte) ([]string, error) {
	d := xml.NewDecoder(io.LimitReader(bytes.NewReader(data), 1<<20))
	d.Strict = true
	var (
		args    []string
		lastKey string
		inArgs  bool
		depth   int
	)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return args, nil
		}
		if err != nil {
			return nil, fmt.Errorf("not a property list: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > 32 {
				return nil, errors.New("property list nested too deep")
			}
			switch t.Name.Local {
			case "key":
				var k string
				if err := d.DecodeElement(&k, &t); err != nil {
					return nil, err
				}
				depth--
				lastKey = k
			case "array":
				inArgs = lastKey == "ProgramArguments"
				lastKey = ""
			case "string":
				var s string
				if err := d.DecodeElement(&s, &t); err != nil {
					return nil, err
				}
				depth--
				if inArgs {
					args = append(args, s)
				}
				lastKey = ""
			}
		case xml.EndElement:
			depth--
			if t.Name.Local == "array" {
				inArgs = false
			}
		}
	}
}
