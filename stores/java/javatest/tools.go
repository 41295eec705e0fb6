package javatest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
)

// JDK is a Java development kit installed on this machine.
type JDK struct {
	Major int
	Home  string
}

// Keytool is the path of the JDK's keytool.
func (j JDK) Keytool() string { return filepath.Join(j.Home, "bin", "keytool") }

// Java is the path of the JDK's java launcher.
func (j JDK) Java() string { return filepath.Join(j.Home, "bin", "java") }

var javaVersion = regexp.MustCompile(`(?m)^JAVA_VERSION="(1\.)?(\d+)`)

// JDKs lists the JDKs under /usr/lib/jvm that have a keytool, by major
// version (from each one's release file), one per version, lowest first.
func JDKs() []JDK {
	dirs, _ := filepath.Glob("/usr/lib/jvm/*")
	byMajor := map[int]JDK{}
	for _, d := range dirs {
		if fi, err := os.Lstat(d); err != nil || !fi.IsDir() {
			continue // skip the alias symlinks
		}
		rel, err := os.ReadFile(filepath.Join(d, "release"))
		if err != nil {
			continue
		}
		m := javaVersion.FindSubmatch(rel)
		if m == nil {
			continue
		}
		major, _ := strconv.Atoi(string(m[2]))
		j := JDK{Major: major, Home: d}
		if _, err := os.Stat(j.Keytool()); err != nil {
			continue
		}
		if _, ok := byMajor[major]; !ok {
			byMajor[major] = j
		}
	}
	var out []JDK
	for _, j := range byMajor {
		out = append(out, j)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Major < out[b].Major })
	return out
}

// FindJDK returns the installed JDK of the given major version, or an
// error naming what to install.
func FindJDK(major int) (JDK, error) {
	for _, j := range JDKs() {
		if j.Major == major {
			return j, nil
		}
	}
	pkg := fmt.Sprintf("Debian package openjdk-%d-jdk-headless", major)
	if major == 25 {
		pkg = "temurin-25-jdk (Adoptium's apt repository) at /usr/lib/jvm/temurin-25-jdk-amd64"
	}
	return JDK{}, fmt.Errorf("no JDK %d with keytool under /usr/lib/jvm: install %s", major, pkg)
}
