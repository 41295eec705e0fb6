package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anchorwatch/anchorwatch/api/client"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// Files in the state directory.
const (
	fileNodeKey = "node_key"
	filePolicy  = "policy.p7m"
	fileState   = "state.json"
	fileStatus  = "status.json"
	dirSpool    = "spool"
)

// state is what the agent keeps across restarts besides the node key, the
// policy blob and the spool.
type state struct {
	// Known lists, per store id, the SHA-256s of our CAs the agent has
	// seen present and trusted: one of them missing later is drift
	// (removed + healed), not a first install.
	Known map[string][]string `json:"known"`
	// LastHash is the state hash of the last full report spooled.
	LastHash string `json:"last_hash"`
	// FactsHash is the hash of the host facts last sent.
	FactsHash string `json:"facts_hash"`
	// BoundKey names (publicKeyID) the host key the collector holds for
	// this host; an agent enrolled before host keys binds its key once.
	BoundKey string `json:"bound_key,omitempty"`
	// Distrusted lists, per store id, the SHA-256s of CAs the agent
	// distrusted (or, in a store that cannot distrust, removed) for the
	// policy's distrust section: one coming back is healed as such, and
	// only these records are ever undistrusted (distrust.go).
	Distrusted map[string][]string `json:"distrusted,omitempty"`
}

// stateDir wraps the state directory.
type stateDir struct {
	dir   string
	mu    sync.Mutex
	st    state
	reset string // what was unreadable at open (statefile.go)
}

func openStateDir(dir string) (*stateDir, error) {
	if err := privateDir(dir); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	st, note, err := loadState(dir)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	return &stateDir{dir: dir, st: st, reset: note}, nil
}

// privateDir makes dir the agent's private directory: it holds the node
// key and the host key. For root, no other user may control the path to
// it (one who owns or may write a directory on the way could put their
// own directory in its place and read or plant the keys): that is checked
// first, so root creates nothing in a path a user controls. The missing
// part is then created 0700; the directory is opened without following a
// link, must be the agent's own, and gets mode 0700 on the descriptor.
func privateDir(dir string) error {
	if os.Geteuid() == 0 {
		c, err := fsroot.Controller(dir) // a missing tail is skipped
		if err != nil {
			return fmt.Errorf("%w: choose a directory only root can change", err)
		}
		if c.UID != 0 {
			return fmt.Errorf("%s can be changed by user %d (through %s): choose a directory only root can change", dir, c.UID, c.By)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := fsroot.OpenDir(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if uid, _ := fsroot.FileOwner(fi); uid >= 0 && uid != os.Geteuid() {
		return fmt.Errorf("%s belongs to user %d, not to the agent (user %d)", dir, uid, os.Geteuid())
	}
	if fi.Mode().Perm() != 0o700 {
		return f.Chmod(0o700)
	}
	return nil
}

func (s *stateDir) path(name string) string { return filepath.Join(s.dir, name) }

func (s *stateDir) nodeKey() string {
	b, err := fsroot.ReadFile(s.path(fileNodeKey), fsroot.Want{Max: maxSmallFile})
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (s *stateDir) setNodeKey(k string) error {
	if k == "" {
		err := os.Remove(s.path(fileNodeKey))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return fsroot.WriteFileAtomic(s.path(fileNodeKey), []byte(k+"\n"), 0o600)
}

func (s *stateDir) policyBlob() ([]byte, error) {
	b, err := fsroot.ReadFile(s.path(filePolicy), fsroot.Want{Max: client.MaxPolicyBytes})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func (s *stateDir) setPolicyBlob(b []byte) error {
	return fsroot.WriteFileAtomic(s.path(filePolicy), b, 0o600)
}

func (s *stateDir) known(storeID string) map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for _, fp := range s.st.Known[storeID] {
		out[fp] = true
	}
	return out
}

// setKnown records the known set of a store, writing the state file only
// when it changed.
func (s *stateDir) setKnown(storeID string, set map[string]bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !putSet(s.st.Known, storeID, set) {
		return nil
	}
	return s.saveLocked()
}

// distrustedBy returns the fingerprints the agent distrusted or removed
// in a store for the distrust section.
func (s *stateDir) distrustedBy(storeID string) map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for _, fp := range s.st.Distrusted[storeID] {
		out[fp] = true
	}
	return out
}

// setDistrustedBy records them, writing the state file only when they
// changed.
func (s *stateDir) setDistrustedBy(storeID string, set map[string]bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.Distrusted == nil {
		s.st.Distrusted = map[string][]string{}
	}
	if !putSet(s.st.Distrusted, storeID, set) {
		return nil
	}
	return s.saveLocked()
}

// putSet stores set as the sorted list of m[storeID] (deleting it when
// empty) and reports whether that changed m.
func putSet(m map[string][]string, storeID string, set map[string]bool) bool {
	list := make([]string, 0, len(set))
	for fp := range set {
		list = append(list, fp)
	}
	sort.Strings(list)
	if strings.Join(list, ",") == strings.Join(m[storeID], ",") {
		return false
	}
	if len(list) == 0 {
		delete(m, storeID)
	} else {
		m[storeID] = list
	}
	return true
}

func (s *stateDir) hashes() (last, facts string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.LastHash, s.st.FactsHash
}

func (s *stateDir) setHashes(last, facts string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.LastHash == last && s.st.FactsHash == facts {
		return nil
	}
	s.st.LastHash, s.st.FactsHash = last, facts
	return s.saveLocked()
}

func (s *stateDir) saveLocked() error {
	data, err := json.Marshal(s.st)
	if err != nil {
		return err
	}
	return writeState(s.dir, data)
}

// Status is what `anchorwatch agent status` shows, written by the agent
// after every change to <state_dir>/status.json.
type Status struct {
	PID           int           `json:"pid"`
	Updated       time.Time     `json:"updated"`
	PolicySerial  int64         `json:"policy_serial"`
	Enrolled      bool          `json:"enrolled"`
	SpoolPending  int           `json:"spool_pending"`
	SpoolDropped  int           `json:"spool_dropped_events,omitempty"`
	LastDelivery  time.Time     `json:"last_delivery,omitempty"`
	LastError     string        `json:"last_error,omitempty"`
	Stores        []StoreReport `json:"stores"`
	UnknownRoots  int           `json:"unknown_roots"`
	BlockedRoots  int           `json:"blocked_roots"`
	PolicyProblem string        `json:"policy_problem,omitempty"`

	// PolicyNotAfter is when the policy in force expires; PolicyState is
	// "valid", "expiring" (warned: publish a new one) or "expired" (still
	// enforced, reported).
	PolicyNotAfter *time.Time `json:"policy_not_after,omitempty"`
	PolicyState    string     `json:"policy_state,omitempty"`
	// EnrollConflict is set when the collector flagged this host's
	// enrollment (its machine id was enrolled by another key).
	EnrollConflict string `json:"enroll_conflict,omitempty"`

	// Delivery (delivery.go): events journaled but not yet spooled,
	// those held in memory only because the journal cannot be written
	// (lost if the agent stops first), and what was dropped since the
	// agent started, with the last reason.
	EventsPending  int          `json:"events_pending"`
	EventsUnsaved  int          `json:"events_unsaved,omitempty"`
	JournalError   string       `json:"journal_error,omitempty"`
	ReportsDropped int          `json:"reports_dropped,omitempty"`
	EventsDropped  int          `json:"events_dropped,omitempty"`
	LastDrop       string       `json:"last_drop,omitempty"`
	HealsFailing   []HealStatus `json:"heals_failing,omitempty"`
}

// HealStatus is a heal that keeps failing, in Status.
type HealStatus struct {
	Store     string    `json:"store"`
	SHA256    string    `json:"sha256"`
	Since     time.Time `json:"since"`
	Failures  int       `json:"failures"`
	LastError string    `json:"last_error,omitempty"`
}

// StoreReport is one store in Status.
type StoreReport struct {
	ID     string        `json:"id"`
	Status stores.Status `json:"status"`
	Detail string        `json:"detail,omitempty"`
}

func (s *stateDir) writeStatus(st Status) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return fsroot.WriteFileAtomic(s.path(fileStatus), append(data, '\n'), 0o644)
}

// ReadStatus reads the status file the agent keeps in stateDir.
func ReadStatus(stateDir string) (Status, error) {
	var st Status
	data, err := fsroot.ReadFile(filepath.Join(stateDir, fileStatus), fsroot.Want{Max: maxStateFile})
	if err != nil {
		return st, fmt.Errorf("agent status: %w (is the agent running with state_dir %s?)", err, stateDir)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("agent status %s: %w", filepath.Join(stateDir, fileStatus), err)
	}
	return st, nil
}
