package nss

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// account is one line of the root's /etc/passwd.
type account struct {
	Name string
	UID  int
	Home string
}

// users maps uids to names, read from the root's /etc/passwd (not the
// host's: a store on a mounted image belongs to that image's users).
type users []account

// maxPasswd bounds /etc/passwd; directory-service hosts keep users
// elsewhere and their homes are found under /home.
const maxPasswd = 8 << 20

func readPasswd(root string) users {
	data, err := fsroot.ReadFileIn(root, "/etc/passwd", fsroot.Want{Max: maxPasswd})
	if err != nil {
		return nil
	}
	return parsePasswd(data)
}

func parsePasswd(data []byte) users {
	var out users
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 7 {
			continue
		}
		uid, err := strconv.Atoi(f[2])
		if err != nil || uid < 0 {
			continue
		}
		out = append(out, account{Name: f[0], UID: uid, Home: f[5]})
	}
	return out
}

// name returns the user name of uid, its number when unknown, or "" for
// an unknown owner (uid < 0, e.g. on Windows).
func (us users) name(uid, _ int) string {
	if uid < 0 {
		return ""
	}
	for _, a := range us {
		if a.UID == uid {
			return a.Name
		}
	}
	return strconv.Itoa(uid)
}
