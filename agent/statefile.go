package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// state.json holds the drift baseline: which of our CAs the agent verified
// present in each store. Losing it turns a CA removed while the agent was
// down into a plain first `installed`. So every save writes it twice,
// state.json and then state.json.bak (each atomically), and a state.json
// that cannot be read is replaced by the backup — the last good state —
// with a state-reset event saying so; only when both are unreadable does
// the agent start from an empty baseline, and it says that too.
const (
	fileStateBackup = "state.json.bak"
	maxStateFile    = 16 << 20
	// maxSmallFile bounds the one-line files the agent reads (node key,
	// host id, machine id): every read of the agent has a bound.
	maxSmallFile = 4 << 10
)

// loadState reads the state in dir. note is empty when state.json was
// read (or none was ever written); otherwise it says what was unreadable
// and which baseline the agent goes on with.
func loadState(dir string) (st state, note string, err error) {
	st, err1 := readStateFile(filepath.Join(dir, fileState))
	if err1 == nil {
		return st, "", nil
	}
	bak, err2 := readStateFile(filepath.Join(dir, fileStateBackup))
	switch {
	case errors.Is(err1, fs.ErrNotExist) && errors.Is(err2, fs.ErrNotExist):
		return newState(), "", nil // first start
	case err2 == nil:
		return bak, fmt.Sprintf("state.json unreadable (%v): went on with the last good state, from state.json.bak", err1), nil
	default:
		return newState(), fmt.Sprintf("state.json unreadable (%v) and no good backup (%v): the drift baseline is lost, "+
			"so a CA found missing now is reported as installed, not removed", err1, err2), nil
	}
}

func newState() state { return state{Known: map[string][]string{}} }

// readStateFile reads and checks one state file: bounded, a regular file,
// JSON, fingerprints that are fingerprints.
func readStateFile(p string) (state, error) {
	st := newState()
	data, err := fsroot.ReadFile(p, fsroot.Want{Max: maxStateFile})
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return newState(), fmt.Errorf("%s: %w", filepath.Base(p), err)
	}
	if st.Known == nil {
		st.Known = map[string][]string{}
	}
	for id, fps := range st.Known {
		for _, fp := range fps {
			if n, ok := stores.NormalizeSHA256(fp); !ok || n != fp {
				return newState(), fmt.Errorf("%s: store %q: %q is not a SHA-256 fingerprint", filepath.Base(p), id, fp)
			}
		}
	}
	return st, nil
}

// writeState writes the state file and its backup.
func writeState(dir string, data []byte) error {
	if err := fsroot.WriteFileAtomic(filepath.Join(dir, fileState), data, 0o600); err != nil {
		return err
	}
	return fsroot.WriteFileAtomic(filepath.Join(dir, fileStateBackup), data, 0o600)
}

// resetNote returns, once, what was unreadable when the state was loaded.
func (s *stateDir) resetNote() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.reset
	s.reset = ""
	return n
}
