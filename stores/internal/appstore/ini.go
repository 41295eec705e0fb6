package appstore

import (
	"bufio"
	"bytes"
	"strings"
)

// Setting is one key of an INI-like file.
type Setting struct {
	Section string // lowercased section name, "" before the first section
	Sub     string // git's subsection ([http "https://x/"]), as written
	Key     string // lowercased
	Value   string
	Line    int
}

// maxConfig bounds every configuration file read.
const maxConfig = 1 << 20

// ParseINI reads the INI dialects of pip.conf (configparser), .npmrc,
// gitconfig, AWS config and gcloud properties: [section] or
// [section "sub"] headers, key = value (or key: value), '#' and ';'
// comments on their own line, and for a value in double quotes git's
// escapes (\" \\ \n \t). A '#' or ';' after whitespace ends an unquoted
// value, as git and npm read it. Continuation lines are not joined.
func ParseINI(data []byte) []Setting {
	if len(data) > maxConfig {
		data = data[:maxConfig]
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var out []Setting
	section, sub := "", ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxConfig)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			end := strings.LastIndexByte(line, ']')
			if end < 0 {
				continue
			}
			section, sub = parseHeader(line[1:end])
			continue
		}
		k, v, ok := cutAssign(line)
		if !ok {
			continue
		}
		out = append(out, Setting{Section: section, Sub: sub, Key: strings.ToLower(k), Value: v, Line: n})
	}
	return out
}

// parseHeader splits `http "https://x/"` (git) or `profile dev` (AWS).
func parseHeader(h string) (section, sub string) {
	h = strings.TrimSpace(h)
	if i := strings.IndexAny(h, " \t"); i >= 0 {
		return strings.ToLower(h[:i]), strings.Trim(strings.TrimSpace(h[i:]), `"`)
	}
	if i := strings.IndexByte(h, '.'); i >= 0 { // git's legacy [http.url]
		return strings.ToLower(h[:i]), h[i+1:]
	}
	return strings.ToLower(h), ""
}

// cutAssign splits "key = value" or "key: value" and unquotes the value.
func cutAssign(line string) (string, string, bool) {
	i := strings.IndexAny(line, "=:")
	if i <= 0 {
		return "", "", false
	}
	k := strings.TrimSpace(line[:i])
	if strings.ContainsAny(k, " \t\"") {
		return "", "", false
	}
	return k, unquoteValue(strings.TrimSpace(line[i+1:])), true
}

func unquoteValue(v string) string {
	if len(v) >= 1 && v[0] == '"' {
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			c := v[i]
			switch {
			case c == '"':
				return b.String()
			case c == '\\' && i+1 < len(v):
				i++
				switch v[i] {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				default:
					b.WriteByte(v[i])
				}
			default:
				b.WriteByte(c)
			}
		}
		return b.String()
	}
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return v[1 : len(v)-1]
	}
	for i := 1; i < len(v); i++ {
		if (v[i] == '#' || v[i] == ';') && (v[i-1] == ' ' || v[i-1] == '\t') {
			return strings.TrimSpace(v[:i])
		}
	}
	return v
}

// Lookup returns the last value of key in section (any subsection when
// sub is "*"), as the tools read it: a later setting wins.
func Lookup(ss []Setting, section, sub, key string) (Setting, bool) {
	var found Setting
	ok := false
	for _, s := range ss {
		if s.Section == section && (sub == "*" || s.Sub == sub) && s.Key == key {
			found, ok = s, true
		}
	}
	return found, ok
}
