package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/internal/secretfile"
	"github.com/anchorwatch/anchorwatch/server/store"
)

// Environment variables that carry secrets, so they stay off command
// lines (which every user of the machine sees in ps and /proc).
const (
	envToken        = "ANCHORWATCH_TOKEN"
	envEnrollSecret = "ANCHORWATCH_ENROLL_SECRET"
	envDB           = "ANCHORWATCH_DB"
)

// maxSecretFile bounds a file holding a secret (a token is ~50 bytes; a
// keystore password file holds a few lines).
const maxSecretFile = secretfile.Max

// secretFlags is a secret that may be given three ways: a file
// (preferred), an environment variable, or a flag value (works, but
// warns: every local user can read it in ps).
type secretFlags struct {
	name  string // flag name, e.g. "token"
	what  string // e.g. "an admin API token"
	env   string
	value string
	file  string
}

func (s *secretFlags) register(cmd *cobra.Command, prefix string) {
	f := cmd.Flags()
	f.StringVar(&s.value, s.name, "", prefix+s.what+" (visible to other users in ps: prefer --"+s.name+"-file or "+s.env+")")
	f.StringVar(&s.file, s.name+"-file", "", prefix+"read "+s.what+" from `FILE` (mode 0600)")
}

// get returns the secret, or "" when none was given. It warns on
// stderr when the secret came as a flag value, and never puts the
// secret in an error.
func (s *secretFlags) get(cmd *cobra.Command) (string, error) {
	switch {
	case s.value != "" && s.file != "":
		return "", usageErr(fmt.Errorf("--%s and --%s-file exclude each other", s.name, s.name))
	case s.file != "":
		return readSecretFile(cmd.ErrOrStderr(), "--"+s.name+"-file", s.file)
	case s.value != "":
		warnCommandLine(cmd.ErrOrStderr(), "--"+s.name, "--"+s.name+"-file FILE or "+s.env)
		return strings.TrimSpace(s.value), nil
	}
	return strings.TrimSpace(os.Getenv(s.env)), nil
}

func warnCommandLine(w io.Writer, flag, instead string) {
	fmt.Fprintf(w, "anchorwatch: warning: %s puts a secret on the command line, where it is visible to other users of this machine (ps, /proc/PID/cmdline); use %s instead\n", flag, instead)
}

// readSecretFile reads a one-line secret from file, refusing an empty
// or oversized one, and warns when other users may read the file.
func readSecretFile(w io.Writer, flag, file string) (string, error) {
	data, err := readPrivateFile(w, flag, file)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", usageErr(fmt.Errorf("%s %s: the file is empty", flag, file))
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", usageErr(fmt.Errorf("%s %s: more than one line; the file must hold the secret alone", flag, file))
	}
	return s, nil
}

// readPrivateFile reads a file holding secrets (secretfile's checks:
// links resolved (container secret mounts), then a regular file of its
// own, at most maxSecretFile bytes) and
// warns when other users may read it.
func readPrivateFile(w io.Writer, flag, file string) ([]byte, error) {
	data, perm, err := secretfile.ReadResolved(file, maxSecretFile)
	if err != nil {
		return nil, usageErr(fmt.Errorf("%s: %w", flag, err))
	}
	if perm&0o044 != 0 {
		fmt.Fprintf(w, "anchorwatch: warning: %s %s is readable by other users (mode %04o): chmod 600 it\n", flag, file, perm)
	}
	return data, nil
}

// parseJavaPasswordFile reads PATH=PASS lines ("#" comments and blank
// lines are skipped). Errors name the line, never its content.
func parseJavaPasswordFile(w io.Writer, file string) (map[string]string, error) {
	data, err := readPrivateFile(w, "--java-password-file", file)
	if err != nil {
		return nil, err
	}
	return parseJavaPasswordLines(file, data)
}

// parseJavaPasswordLines parses the content of a --java-password-file.
func parseJavaPasswordLines(file string, data []byte) (map[string]string, error) {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxSecretFile)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		p, pass, ok := strings.Cut(line, "=")
		p = strings.TrimSpace(p)
		switch {
		case !ok || p == "":
			return nil, usageErr(fmt.Errorf("--java-password-file %s: line %d: want PATH=PASSWORD", file, n))
		case !strings.HasPrefix(p, "/"):
			return nil, usageErr(fmt.Errorf("--java-password-file %s: line %d: the keystore path must be absolute, as seen inside --root", file, n))
		}
		m[path.Clean(p)] = pass
	}
	if err := sc.Err(); err != nil {
		return nil, usageErr(fmt.Errorf("--java-password-file %s: %w", file, err))
	}
	return m, nil
}

// dbHasPassword reports whether a database URL carries a password.
func dbHasPassword(u string) bool {
	if !store.IsPostgresURL(u) {
		return false
	}
	pu, err := url.Parse(u)
	if err != nil {
		return strings.Contains(u, "@") // unparsable: assume the worst
	}
	if _, ok := pu.User.Password(); ok {
		return true
	}
	return pu.Query().Has("password")
}
