package nss

import (
	"bufio"
	"bytes"
	"path"
	"strings"
)

// maxINI bounds a profiles.ini we read; real ones are a few hundred bytes.
const maxINI = 1 << 20

// profileRef is one profile directory named by a profiles.ini.
type profileRef struct {
	Path       string // as written, with '/' separators
	IsRelative bool   // relative to the directory holding profiles.ini
}

// parseProfilesINI returns the profile directories a Firefox or
// Thunderbird profiles.ini names: Path= of every [ProfileN] section
// (IsRelative=1, the default, means relative to the ini's directory) and
// Default= of every [Install…] section (always relative). Unknown
// sections and keys are ignored; lines are "key=value" as Mozilla writes
// them, with optional spaces, CRLF line ends and ';' or '#' comments.
func parseProfilesINI(data []byte) []profileRef {
	if len(data) > maxINI {
		data = data[:maxINI]
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	type section struct {
		name   string
		kv     map[string]string
		hasRel bool
	}
	var secs []*section
	var cur *section
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxINI)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == ';' || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				cur = nil
				continue
			}
			cur = &section{name: strings.TrimSpace(line[1:end]), kv: map[string]string{}}
			secs = append(secs, cur)
			continue
		}
		if cur == nil {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if _, dup := cur.kv[k]; !dup {
			cur.kv[k] = v
		}
	}
	var out []profileRef
	seen := map[profileRef]bool{}
	add := func(r profileRef) {
		r.Path = strings.ReplaceAll(r.Path, `\`, "/")
		if r.Path == "" || strings.ContainsRune(r.Path, 0) || seen[r] {
			return
		}
		seen[r] = true
		out = append(out, r)
	}
	for _, s := range secs {
		lname := strings.ToLower(s.name)
		switch {
		case strings.HasPrefix(lname, "profile"):
			p, ok := s.kv["path"]
			if !ok {
				continue
			}
			rel := s.kv["isrelative"] != "0"
			add(profileRef{Path: p, IsRelative: rel})
		case strings.HasPrefix(lname, "install"):
			if p, ok := s.kv["default"]; ok {
				add(profileRef{Path: p, IsRelative: !path.IsAbs(strings.ReplaceAll(p, `\`, "/"))})
			}
		}
	}
	return out
}

// resolveProfile returns the profile directory (a path inside the root)
// for ref found in the profiles.ini in iniDir (a path inside the root).
// A relative path cannot climb out of iniDir's tree above the root: the
// result is cleaned inside the root either way.
func resolveProfile(iniDir string, ref profileRef) string {
	if ref.IsRelative && !path.IsAbs(ref.Path) {
		return path.Clean(path.Join(iniDir, ref.Path))
	}
	p := ref.Path
	if len(p) >= 2 && p[1] == ':' { // a Windows drive path: drop the drive
		p = p[2:]
	}
	return path.Clean("/" + p)
}
