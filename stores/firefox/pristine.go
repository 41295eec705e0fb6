package firefox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// What Install leaves beside a policies.json so that Remove can leave
// the place as it found it (hidden files Firefox does not read):
//
//   - .anchorwatch-<name>.orig: the file's bytes before Anchorwatch first
//     changed it. When removing our entries leaves the document equal to
//     it, the original bytes are put back (byte-identical, formatting and
//     key order included).
//   - .anchorwatch-<name>.created: the file did not exist; each line
//     names a directory Install created for it (inside the root). When
//     the document holds nothing but what Anchorwatch put there, Remove
//     deletes it and those directories (when empty).

func (s *Store) sidecar(ext string) string {
	name := ".anchorwatch-" + path.Base(s.cfg.Path) + ext
	if s.cfg.Native {
		return filepath.Join(s.dir(), name)
	}
	return path.Join(s.dir(), name)
}

// maxSidecar bounds the files above.
const maxSidecar = MaxPolicies

// remember records, before the first write of policies.json, what was
// there: its bytes (orig) or that it did not exist and which directories
// the write creates. Nothing is recorded when a record exists already.
// Call it inside asWriter.
func (s *Store) remember(orig []byte, existed bool) error {
	for _, ext := range []string{".orig", ".created"} {
		if _, err := os.Lstat(s.host(s.sidecar(ext))); err == nil {
			return nil
		}
	}
	if existed {
		return s.writeSidecar(".orig", orig)
	}
	var created []string
	for d := s.dir(); d != "/" && d != "." && d != `\`; d = parentDir(d, s.cfg.Native) {
		if _, err := os.Lstat(s.host(d)); err == nil {
			break
		}
		created = append(created, d)
	}
	if err := os.MkdirAll(s.host(s.dir()), 0o755); err != nil {
		return fmt.Errorf("firefox policy %s: %w", s.cfg.Path, err)
	}
	return s.writeSidecar(".created", []byte(strings.Join(created, "\n")))
}

func parentDir(d string, native bool) string {
	if native {
		return filepath.Dir(d)
	}
	return path.Dir(d)
}

func (s *Store) writeSidecar(ext string, b []byte) error {
	if err := fsroot.WriteFileAtomic(s.host(s.sidecar(ext)), b, 0o600); err != nil {
		return fmt.Errorf("firefox policy %s: record the original: %w", s.cfg.Path, err)
	}
	return nil
}

// readSidecar reads a record; ok false when there is none.
func (s *Store) readSidecar(ext string) ([]byte, bool, error) {
	b, err := s.readFile(s.sidecar(ext), maxSidecar)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("firefox policy %s: %w", s.cfg.Path, err)
	}
	return b, true, nil
}

// legacyEmpty is what Anchorwatch before this change left behind after
// removing its last entry from a policies.json it had created.
const legacyEmpty = "{\n  \"policies\": {}\n}\n"

// restore writes p after Remove took entries out of it, leaving the place
// as Install found it when nothing of ours is left (see the records
// above): the original bytes put back, or the file and the directories
// Install created deleted. Otherwise p is written as merged. Call it
// inside asWriter.
func (s *Store) restore(p *Policies, current []byte, oursLeft bool) error {
	if oursLeft {
		return s.write(p)
	}
	if orig, ok, err := s.readSidecar(".orig"); err != nil {
		return err
	} else if ok {
		return s.putBack(p, orig)
	}
	created, ok, err := s.readSidecar(".created")
	if err != nil {
		return err
	}
	empty, err := p.Empty()
	if err != nil {
		return err
	}
	switch {
	case ok && empty:
		return s.unmake(strings.Split(string(created), "\n"))
	case !ok && empty && string(current) == legacyEmpty:
		s.env.Log.Info("firefox policy: deleting the empty policies.json an earlier Anchorwatch left", "policy", s.cfg.Path)
		return s.unmake(nil)
	}
	return s.write(p)
}

// putBack writes the original bytes when p says the same as they do,
// else p; the record is dropped either way (the administrator changed
// the file since, their version stands).
func (s *Store) putBack(p *Policies, orig []byte) error {
	now, err := p.Marshal()
	if err != nil {
		return err
	}
	same := false
	if po, perr := ParsePolicies(orig); perr == nil {
		if len(po.install) == 0 {
			po.install = nil // as RemoveInstall leaves it
		}
		if bo, merr := po.Marshal(); merr == nil {
			same, err = sameJSON(now, bo)
		}
	}
	if err != nil || !same {
		err = s.write(p)
	} else if err = fsroot.WriteFileAtomic(s.host(s.cfg.Path), orig, 0o644); err != nil {
		err = fmt.Errorf("firefox policy %s: %w", s.cfg.Path, err)
	}
	if err != nil {
		return err
	}
	return removeIfThere(s.host(s.sidecar(".orig")))
}

// unmake deletes policies.json, the records and the directories Install
// created (deepest first, each only when empty).
func (s *Store) unmake(dirs []string) error {
	for _, f := range []string{s.cfg.Path, s.sidecar(".created")} {
		if err := removeIfThere(s.host(f)); err != nil {
			return fmt.Errorf("firefox policy %s: %w", s.cfg.Path, err)
		}
	}
	for _, d := range dirs {
		if d == "" || !s.onPath(d) {
			continue // only the policy's own directory and its parents
		}
		_ = os.Remove(s.host(d)) // fails when not empty: then it stays
	}
	return nil
}

// onPath reports whether d is the policy's directory or one of its
// parents.
func (s *Store) onPath(d string) bool {
	for x := s.dir(); ; {
		if x == d {
			return true
		}
		up := parentDir(x, s.cfg.Native)
		if up == x {
			return false
		}
		x = up
	}
}

func removeIfThere(hp string) error {
	if err := os.Remove(hp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(a, b []byte) (bool, error) {
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		return false, err
	}
	ca, _ := json.Marshal(va)
	cb, _ := json.Marshal(vb)
	return bytes.Equal(ca, cb), nil
}
