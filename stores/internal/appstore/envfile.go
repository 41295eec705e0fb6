package appstore

import (
	"bufio"
	"bytes"
	"strings"
	"unicode"
)

// EnvVar is one variable a system-wide environment file sets.
type EnvVar struct {
	Name, Value string
	Source      string // where it is set, e.g. /etc/environment
	Line        int
}

// ParseEnvironment reads pam_env's /etc/environment and systemd's
// environment.d/*.conf: NAME=VALUE lines, an optional leading "export ",
// '#' comments, a value in matching single or double quotes unquoted. A
// later line for the same name wins (both programs read top to bottom).
// Lines that are not assignments are skipped, as both do.
func ParseEnvironment(data []byte, source string) []EnvVar {
	if len(data) > maxConfig {
		data = data[:maxConfig]
	}
	var out []EnvVar
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxConfig)
	for n := 1; sc.Scan(); n++ {
		name, value, ok := parseEnvLine(sc.Text())
		if ok {
			out = append(out, EnvVar{Name: name, Value: value, Source: source, Line: n})
		}
	}
	return out
}

func parseEnvLine(line string) (string, string, bool) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return "", "", false
	}
	line = strings.TrimPrefix(line, "export ")
	k, v, ok := strings.Cut(line, "=")
	k = strings.TrimSpace(k)
	if !ok || !validEnvName(k) {
		return "", "", false
	}
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		v = v[1 : len(v)-1]
	}
	return k, v, true
}

func validEnvName(k string) bool {
	if k == "" {
		return false
	}
	for i, c := range k {
		if c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// GetEnv returns the value the last line setting name gives.
func GetEnv(vars []EnvVar, name string) (EnvVar, bool) {
	var v EnvVar
	ok := false
	for _, e := range vars {
		if e.Name == name {
			v, ok = e, true
		}
	}
	return v, ok
}

// PlainValue reports whether v can be written unquoted for pam_env and
// environment.d alike: no white space, control character, quote, '$',
// '\\' or '#'.
func PlainValue(v string) bool {
	if v == "" {
		return false
	}
	for _, r := range v {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("\"'$\\#", r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// EnvComment starts the comment line SetEnv writes above its assignment.
const EnvComment = "# Set by Anchorwatch"

// SetEnv returns data with name set to value: the last line setting it is
// replaced (earlier ones are removed, so the file says one thing), or a
// comment line and the assignment are appended. value must be
// PlainValue; the caller checks. Everything
// else in the file stays byte for byte.
func SetEnv(data []byte, name, value, why string) []byte {
	lines := splitLines(data)
	assign := name + "=" + value + "\n"
	last := -1
	for i, l := range lines {
		if n, _, ok := parseEnvLine(string(l)); ok && n == name {
			last = i
		}
	}
	var out []byte
	for i, l := range lines {
		n, _, ok := parseEnvLine(string(l))
		switch {
		case i == last:
			out = append(out, assign...)
		case ok && n == name:
			// an earlier assignment: dropped
		default:
			out = append(out, l...)
		}
	}
	if last < 0 {
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		out = append(out, EnvComment+": "+why+"\n"...)
		out = append(out, assign...)
	}
	return out
}

// UnsetEnv returns data without the lines setting name, and without the
// comment line SetEnv wrote above them.
func UnsetEnv(data []byte, name string) []byte {
	lines := splitLines(data)
	var out []byte
	for i, l := range lines {
		if n, _, ok := parseEnvLine(string(l)); ok && n == name {
			continue
		}
		if bytes.HasPrefix(l, []byte(EnvComment)) && i+1 < len(lines) {
			if n, _, ok := parseEnvLine(string(lines[i+1])); ok && n == name {
				continue
			}
		}
		out = append(out, l...)
	}
	return out
}

// splitLines splits data after each '\n', keeping the line breaks.
func splitLines(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			out = append(out, data)
			break
		}
		out = append(out, data[:i+1])
		data = data[i+1:]
	}
	return out
}
