package java

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// DefaultPassword is the password of every JDK's and distribution's
// cacerts that has one.
const DefaultPassword = "changeit"

// maxKeystore bounds the size of a keystore we read; real cacerts files
// are under 200 KiB.
const maxKeystore = 32 << 20

// defaultSettle is how long Install and Remove watch a keystore after
// writing it for a concurrent read-modify-write writer (keytool) that read
// the file before our rename; see update.go. keytool's read-to-write gap is
// a few hundred milliseconds.
const defaultSettle = time.Second

// Store is one Java keystore file.
type Store struct {
	info  stores.Info
	root  string
	host  string   // host path of the file
	paths []string // paths inside root that reach it, resolved first (for passwords)
	pw    map[string]string
	// settle is the post-write watch; see defaultSettle.
	settle time.Duration
	now    func() time.Time
}

// Open returns the store for the keystore at path (inside env.Root),
// following symlinks. It sniffs the format; a file that is not a keystore
// we can handle gets a Note. It fails only when path does not exist.
func Open(env stores.Env, path string) (*Store, error) {
	env = env.Normalize()
	resolved, err := fsroot.Resolve(env.Root, path)
	if err != nil {
		return nil, fmt.Errorf("java keystore %s: %w", path, err)
	}
	s := newStore(env, resolved)
	if path != resolved {
		s.paths = append(s.paths, path)
	}
	return s, nil
}

func newStore(env stores.Env, resolved string) *Store {
	s := &Store{
		root:   env.Root,
		host:   fsroot.Join(env.Root, resolved),
		paths:  []string{resolved},
		pw:     env.JavaPasswords,
		settle: defaultSettle,
		now:    time.Now,
		info: stores.Info{
			ID:   string(stores.KindJava) + ":" + resolved,
			Kind: stores.KindJava,
			Path: resolved,
			// A keystore cannot say what a CA is trusted for.
			CannotRestrict: true,
		},
	}
	s.info.Format, s.info.Note = sniffFile(s.host)
	s.info.Writable = s.info.Note == "" && writable(s.host)
	return s
}

// keystoreWant is what a keystore file must be before we read it: a
// regular file (a FIFO or device planted as a cacerts is refused without
// blocking), not a symbolic link (the path is resolved inside the root
// first), at most maxKeystore bytes.
var keystoreWant = fsroot.Want{Max: maxKeystore}

// openKeystore opens the keystore at hp as keystoreWant says.
func openKeystore(hp string) (*os.File, os.FileInfo, error) {
	return fsroot.Open(hp, keystoreWant)
}

// sniffFile reads the first bytes of the file at hp to name its format. A
// file caught while a writer rewrites it in place (keytool truncates it,
// then writes) is read again until it stops changing, for up to a second.
func sniffFile(hp string) (format, note string) {
	deadline := time.Now().Add(time.Second)
	for {
		format, note, st := sniffOnce(hp)
		if note == "" || st == nil || time.Now().After(deadline) {
			return format, note
		}
		time.Sleep(50 * time.Millisecond)
		if now, err := os.Stat(hp); err != nil || sameVersion(st, now) {
			return format, note
		}
	}
}

// sniffOnce is one try of sniffFile; st is the file's stat when it was
// opened.
func sniffOnce(hp string) (format, note string, st os.FileInfo) {
	if fi, err := os.Lstat(hp); err == nil && fi.IsDir() {
		return FormatUnknown, "a directory, not a keystore", nil
	}
	f, fi, err := openKeystore(hp)
	if err != nil {
		return FormatUnknown, fmt.Sprintf("cannot read keystore: %v", err), nil
	}
	defer f.Close()
	var head [16]byte
	n, _ := io.ReadFull(f, head[:])
	format, found := sniff(head[:n], int(min(fi.Size(), maxKeystore)))
	switch format {
	case FormatJCEKS:
		return format, "JCEKS keystore: not supported (convert it with keytool -importkeystore -deststoretype pkcs12)", nil
	case FormatUnknown:
		return format, "not a Java keystore: found " + found, fi
	}
	return format, "", nil
}

// Info describes the store.
func (s *Store) Info() stores.Info { return s.info }

// Watch names the keystore and its directory (a rename-replace shows up as
// an event on the directory).
func (s *Store) Watch() stores.WatchSpec {
	return stores.WatchSpec{Paths: []string{s.host, dirOf(s.host)}}
}

// passwords are the candidates to open the store with: the configured one
// (for the resolved path or any runtime path reaching it) or "changeit",
// then for PKCS12 the empty password of the JDK ≥ 18 format.
func (s *Store) passwords(format string) []string {
	pw := DefaultPassword
	for _, p := range s.paths {
		if v, ok := s.pw[p]; ok {
			pw = v
			break
		}
	}
	out := []string{pw}
	if format == FormatPKCS12 && pw != "" {
		out = append(out, "")
	}
	return out
}

// errorf wraps err with the keystore path and, for a wrong password, what
// to do about it.
func (s *Store) errorf(err error) error {
	p := s.info.Path
	if errors.Is(err, errWrongPassword) {
		return fmt.Errorf("java keystore %s: %w: give its password in the policy's java_passwords (the agent), or with --java-password-file (a command run by hand)", p, err)
	}
	return fmt.Errorf("java keystore %s: %w", p, err)
}

// readKeystore reads the whole keystore from f, opened by openKeystore.
func readKeystore(f *os.File) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return fsroot.ReadAll(f, fi.Size(), maxKeystore)
}

func (s *Store) load() (*keystoreFile, error) {
	f, _, err := openKeystore(s.host)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := readKeystore(f)
	if err != nil {
		return nil, err
	}
	return s.decode(data)
}

func (s *Store) decode(data []byte) (*keystoreFile, error) {
	format, _ := Sniff(data)
	return decode(data, s.passwords(format))
}

// List returns every certificate in the keystore: trusted certificate
// entries as trusted for TLS server auth, other certificates (PKCS12 bags
// without Java's trusted-usage attribute, private key chains) as not.
func (s *Store) List(ctx context.Context) ([]stores.Anchor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	kf, err := s.load()
	if err != nil {
		return nil, s.errorf(err)
	}
	return kf.anchors(), nil
}

// Install adds each certificate as a trusted certificate entry named
// stores.Label(cert). A certificate already trusted under any alias is
// unchanged; one present only untrusted gets a trusted entry ("trusted").
func (s *Store) Install(ctx context.Context, certs []*x509.Certificate, opt stores.Options) ([]stores.Change, error) {
	now := s.now()
	return s.update(ctx, opt, func(kf *keystoreFile) ([]stores.Change, error) {
		var changes []stores.Change
		for _, c := range certs {
			sha := stores.SHA256(c)
			trusted, present := kf.has(sha)
			switch {
			case trusted:
				changes = append(changes, stores.Change{SHA256: sha, Action: stores.ActionUnchanged})
				continue
			case present:
				changes = append(changes, stores.Change{SHA256: sha, Action: stores.ActionTrusted})
			default:
				changes = append(changes, stores.Change{SHA256: sha, Action: stores.ActionAdded})
			}
			if err := kf.addTrusted(stores.Label(c), c, now); err != nil {
				return nil, err
			}
		}
		return changes, nil
	})
}

// Remove deletes every certificate entry (any alias) holding one of the
// listed certificates. Private key entries are never touched.
func (s *Store) Remove(ctx context.Context, sha256s []string, opt stores.Options) ([]stores.Change, error) {
	return s.update(ctx, opt, func(kf *keystoreFile) ([]stores.Change, error) {
		var changes []stores.Change
		fps, err := stores.Fingerprints(sha256s)
		if err != nil {
			return nil, err
		}
		for _, sha := range fps {
			action := stores.ActionUnchanged
			if kf.removeSHA(sha) {
				action = stores.ActionRemoved
			}
			changes = append(changes, stores.Change{SHA256: sha, Action: action})
		}
		return changes, nil
	})
}
