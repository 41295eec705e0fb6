//go:build linux

package system

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// Store is the system trust store of one Linux root: the family's anchors
// directory (what we write) and its extracted bundle (what applications
// read, and what we audit).
type Store struct {
	root string // host path of the root, "/" for the running host
	fam  Family
	osr  OSRelease
	log  *slog.Logger
	// unknown is set when os-release names no known family; the store is
	// then reported with a Note and cannot be read or written.
	unknown error
}

var (
	_ stores.Store   = (*Store)(nil)
	_ stores.Auditor = (*Store)(nil)
)

// Open detects the family of the Linux tree under env.Root from its
// os-release and returns its system store. A root without os-release is
// not a Linux system tree: Open returns an error wrapping fs.ErrNotExist.
// A root whose family is unknown gets a store whose Info carries a Note.
func Open(env stores.Env) (*Store, error) {
	env = env.Normalize()
	s := &Store{root: env.Root, log: env.Log}
	data, where, err := s.readOSRelease()
	if err != nil {
		return nil, err
	}
	s.osr = ParseOSRelease(data)
	fam, err := DetectFamily(s.osr)
	if err != nil {
		s.unknown = fmt.Errorf("%s: %w", where, err)
		s.fam = Family{Name: s.osr.ID}
		return s, nil
	}
	s.fam = fam
	return s, nil
}

// New returns the store of family fam under env.Root without looking at
// os-release (for tests and for callers that know the family).
func New(env stores.Env, fam Family) *Store {
	env = env.Normalize()
	return &Store{root: env.Root, fam: fam, log: env.Log}
}

// Family returns the family the store was opened as.
func (s *Store) Family() Family { return s.fam }

// readOSRelease reads /etc/os-release, then /usr/lib/os-release, as
// os-release(5) says; symlinks resolve inside the root.
func (s *Store) readOSRelease() ([]byte, string, error) {
	var firstErr error
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		data, err := s.readFile(p)
		if err == nil {
			return data, p, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, "", fmt.Errorf("no os-release under %s (not a Linux system root?): %w", s.root, firstErr)
}

func discover(_ context.Context, env stores.Env) ([]stores.Store, error) {
	s, err := Open(env)
	if errors.Is(err, fs.ErrNotExist) {
		env.Normalize().Log.Debug("no Linux system store", "root", env.Root, "err", err)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []stores.Store{s}, nil
}

// host returns the host path of p (inside the root), following symlinks
// the way a process chrooted at the root would; a path that does not
// resolve (missing) is joined as is.
func (s *Store) host(p string) string {
	if r, err := fsroot.Resolve(s.root, p); err == nil {
		p = r
	}
	return fsroot.Join(s.root, p)
}

// readFile reads p (inside the root), bounded by maxFile.
func (s *Store) readFile(p string) ([]byte, error) {
	return readBounded(s.host(p), p)
}

// readBounded reads the host file hp (named p in errors), bounded by
// maxFile.
func readBounded(hp, p string) ([]byte, error) {
	var scratch []byte
	return readScratch(hp, p, &scratch)
}

// readScratch is readBounded reading through *scratch, a buffer reused
// across calls (a full Mozilla set is ~150 files). The file is opened
// without following a link (paths are resolved inside the root first)
// and without blocking: a FIFO or device is refused, never waited on.
func readScratch(hp, p string, scratch *[]byte) ([]byte, error) {
	f, _, err := fsroot.Open(hp, fsroot.Want{Max: maxFile})
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := fsroot.ReadAllReuse(f, maxFile, scratch)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return data, nil
}

// Info describes the store. Writable reflects an access(2) check on the
// anchors directory (or the nearest existing parent) and whether the
// refresh tool can run for this root.
func (s *Store) Info() stores.Info {
	info := stores.Info{
		ID:     "system:" + s.fam.Bundle,
		Kind:   stores.KindSystem,
		Path:   s.fam.Bundle,
		Format: s.fam.Name,
		// A PEM bundle trusts every CA in it for every purpose; p11-kit
		// families keep purposes (OpenSSL trust settings, blocklists).
		CannotRestrict: !s.fam.P11Kit,
	}
	if s.unknown != nil {
		info.ID = "system:unknown"
		info.Note = s.unknown.Error()
		return info
	}
	_, planErr := s.refreshPlan()
	info.Writable = planErr == nil && s.writable(s.fam.AnchorsDir)
	if planErr != nil {
		info.Note = planErr.Error()
	}
	return info
}

func (s *Store) writable(p string) bool {
	for {
		err := unix.Access(s.host(p), unix.W_OK)
		if err == nil {
			return true
		}
		if !errors.Is(err, unix.ENOENT) || p == "/" {
			return false
		}
		p = path.Dir(p)
	}
}

// Watch names the anchors directory, the bundle and its directory, and the
// files that decide what the bundle holds (ca-certificates.conf, the
// blocklist directories). Paths are host paths, ready for fsnotify.
func (s *Store) Watch() stores.WatchSpec {
	if s.unknown != nil {
		return stores.WatchSpec{}
	}
	ps := []string{s.fam.AnchorsDir, s.fam.Bundle, path.Dir(s.fam.Bundle)}
	if s.fam.CertsConf != "" {
		ps = append(ps, s.fam.CertsConf)
	}
	ps = append(ps, s.fam.Blocklists...)
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = s.host(p)
	}
	return stores.WatchSpec{Paths: out}
}

// List returns what applications read: every certificate of the extracted
// bundle, trusted for TLS server auth (Vendor set for the distribution's
// own CAs), followed by certificates that sit in the trust sources but did
// not make it into the bundle — an anchor not yet refreshed, a CA
// deselected in ca-certificates.conf, a blocklisted anchor — as untrusted.
// A missing or corrupt bundle is an error.
func (s *Store) List(ctx context.Context) ([]stores.Anchor, error) {
	anchors, _, err := s.ListExplained(ctx)
	return anchors, err
}

// ListExplained is List plus, for every untrusted certificate, the reason
// (keyed by SHA-256) the bundle does not trust it.
func (s *Store) ListExplained(ctx context.Context) ([]stores.Anchor, map[string]string, error) {
	if s.unknown != nil {
		return nil, nil, s.unknown
	}
	st, err := s.read(ctx)
	if err != nil {
		return nil, nil, err
	}
	if st.bundleErr != nil {
		return nil, nil, st.bundleErr
	}
	return st.anchors(s.fam.P11Kit), st.reasons, nil
}

// Audit is stores.Audit with the reason for every untrusted CA in the
// detail ("deselected in /etc/ca-certificates.conf", "in the RHEL
// blocklist …", "bundle not refreshed: run update-ca-certificates").
func (s *Store) Audit(ctx context.Context, want []*x509.Certificate) stores.Result {
	info := s.Info()
	if s.unknown != nil {
		return stores.Result{Info: info, Status: stores.StatusError, Detail: info.Note}
	}
	anchors, reasons, err := s.ListExplained(ctx)
	if err != nil {
		return stores.ErrorResult(info, err)
	}
	r := stores.Check(info, anchors, want)
	var why []string
	for _, fp := range r.Untrusted {
		if reason := reasons[fp]; reason != "" {
			why = append(why, fmt.Sprintf("sha256 %s…: %s", fp[:16], reason))
		}
	}
	if len(why) > 0 {
		r.Detail += " (" + strings.Join(why, "; ") + ")"
	}
	if r.Status != stores.StatusCompliant && info.Note != "" {
		r.Detail += "; cannot install here: " + info.Note
	}
	return r
}

// state is one consistent reading of the store's sources and bundle.
type state struct {
	bundleErr error // the bundle is missing (wraps fs.ErrNotExist)
	bundle    []entry
	certs     []*x509.Certificate
	inBundle  map[string]int              // sha256 → index in bundle
	vendor    map[string]bool             // sha256 of the distribution's own CAs
	source    map[string]string           // sha256 → file it comes from (label)
	blocked   map[string]string           // sha256 → blocklist file
	blockSPKI map[string]string           // SPKI sha256 → blocklist file
	files     []anchorFile                // the anchors directory
	confSel   map[string][]string         // sha256 → ca-certificates.conf lines selecting it
	purposes  map[string][]stores.Purpose // sha256 → what an anchors-directory file trusts it for (p11-kit)
	// distrusted holds every certificate the sources refuse: in a p11-kit
	// blocklist, or deselected with "!" in ca-certificates.conf; where
	// names the blocklist file or the conf line.
	distrusted map[string]distrustRecord
	extra      []extraCert // sources not in the bundle, first reason wins
	reasons    map[string]string
}

// anchorFile is one file of the anchors directory.
type anchorFile struct {
	Path    string // inside the root
	Data    []byte
	Certs   []entry
	Ignored string // why the refresh tool skips it, if it does
}

type extraCert struct {
	e      entry
	label  string
	reason string
}

func sum256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// read gathers the bundle and every trust source. A corrupt bundle is an
// error; a missing one is recorded in bundleErr so Install can still build
// it.
func (s *Store) read(ctx context.Context) (*state, error) {
	st := &state{
		inBundle:   map[string]int{},
		vendor:     map[string]bool{},
		source:     map[string]string{},
		blocked:    map[string]string{},
		blockSPKI:  map[string]string{},
		reasons:    map[string]string{},
		confSel:    map[string][]string{},
		purposes:   map[string][]stores.Purpose{},
		distrusted: map[string]distrustRecord{},
	}
	// The trust sources are read while the bundle is parsed: on a 2-core
	// host that halves List's wall time.
	srcs := make(chan collected, 1)
	go func() { srcs <- s.collect() }()
	data, err := s.readFile(s.fam.Bundle)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		st.bundleErr = fmt.Errorf("%s store: bundle %s does not exist: run %s to build it", s.fam.Name, s.fam.Bundle, s.refreshName())
	case err != nil:
		return nil, fmt.Errorf("%s store: read bundle: %w", s.fam.Name, err)
	default:
		st.bundle, st.certs, err = parseBundle(data)
		if err != nil {
			return nil, fmt.Errorf("%s store: bundle %s is corrupt: %w; rebuild it with %s", s.fam.Name, s.fam.Bundle, err, s.refreshName())
		}
		for i, e := range st.bundle {
			if _, dup := st.inBundle[e.sha256()]; !dup {
				st.inBundle[e.sha256()] = i
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := <-srcs
	if s.fam.P11Kit {
		s.readP11Kit(st, c)
	} else {
		s.readCertsConf(st, c)
	}
	if err := s.readAnchors(st); err != nil {
		return nil, err
	}
	return st, ctx.Err()
}

// readAnchors reads the anchors directory: recursively for the Debian tool
// (find -L), one level for p11-kit.
func (s *Store) readAnchors(st *state) error {
	dir := s.fam.AnchorsDir
	err := s.walkFiles(dir, s.fam.P11Kit, func(p string, data []byte) {
		name := path.Base(p)
		if strings.HasPrefix(name, ".") && strings.Contains(name, ".anchorwatch-") {
			return // our own temporary file
		}
		af := anchorFile{Path: p, Data: data}
		parsed, perr := parseSource(data)
		switch {
		case perr != nil:
			af.Ignored = fmt.Sprintf("anchor file %s is not a certificate (%v)", p, perr)
		case s.fam.AnchorExt != "" && !strings.HasSuffix(name, s.fam.AnchorExt):
			af.Ignored = fmt.Sprintf("anchor file %s is ignored by %s: the name must end in %s", p, s.refreshName(), s.fam.AnchorExt)
		case !s.fam.P11Kit && !bytes.Contains(data, beginMarker):
			af.Ignored = fmt.Sprintf("anchor file %s is DER; %s needs PEM", p, s.refreshName())
		}
		af.Certs = parsed.Certs
		st.files = append(st.files, af)
		for _, e := range af.Certs {
			fp := e.sha256()
			if _, ok := st.source[fp]; !ok {
				st.source[fp] = p
			}
			if s.fam.P11Kit && af.Ignored == "" {
				st.addPurposes(fp, e.Purposes)
			}
			var reason string
			switch {
			case af.Ignored != "":
				reason = af.Ignored
			case st.blocked[fp] != "":
				reason = fmt.Sprintf("in the %s blocklist (%s)", display(s.fam.Name), st.blocked[fp])
			case st.bundleErr != nil:
				reason = st.bundleErr.Error()
			default:
				reason = fmt.Sprintf("anchor file %s present but bundle %s not refreshed: run %s", p, s.fam.Bundle, s.refreshName())
			}
			if spki := spkiOf(e.DER); spki != "" && st.blockSPKI[spki] != "" && st.blocked[fp] == "" {
				reason = fmt.Sprintf("its key is in the %s blocklist (%s)", display(s.fam.Name), st.blockSPKI[spki])
			}
			st.addExtra(e, p, reason)
		}
	})
	if err != nil {
		return fmt.Errorf("%s store: anchors directory %s: %w", s.fam.Name, dir, err)
	}
	return nil
}

// addExtra records a source certificate that is not trusted through the
// bundle. Certificates in the bundle are skipped unless blocklisted (a
// stale bundle still holding a blocklisted CA reports it untrusted, since
// the next refresh drops it); the first reason recorded wins.
func (st *state) addExtra(e entry, label, reason string) {
	fp := e.sha256()
	if _, in := st.inBundle[fp]; in {
		return
	}
	if _, seen := st.reasons[fp]; seen {
		return
	}
	st.reasons[fp] = reason
	st.extra = append(st.extra, extraCert{e: e, label: label, reason: reason})
}

// readCertsConf reads ca-certificates.conf and the certificates it
// selects from CertsDir (Debian, Alpine): selected files under VendorDir
// are the distribution's own; "!" lines and files the conf does not list
// are not in the bundle.
func (s *Store) readCertsConf(st *state, c collected) {
	conf, files := c.conf, map[string][]entry{}
	for _, f := range c.certsDir {
		files[f.p] = f.pr.Certs
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(string(conf), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		deselected := line[0] == '!'
		rel := strings.TrimPrefix(line, "!")
		p := path.Join(s.fam.CertsDir, rel)
		listed[p] = true
		ents, ok := files[p]
		if !ok && !strings.HasPrefix(p, s.fam.CertsDir+"/") {
			ents = s.sourceFile(p) // a conf line reaching outside CertsDir
		}
		for _, e := range ents {
			fp := e.sha256()
			if deselected {
				st.noteDistrust(e, line)
				st.addExtra(e, p, fmt.Sprintf("deselected in %s (line %q)", s.fam.CertsConf, line))
				continue
			}
			if _, ok := st.source[fp]; !ok {
				st.source[fp] = p
			}
			st.confSel[fp] = append(st.confSel[fp], line)
			if strings.HasPrefix(rel, s.fam.VendorDir+"/") {
				st.vendor[fp] = true
			}
		}
	}
	// Files in CertsDir the conf does not mention are not in the bundle
	// either (dpkg-reconfigure ca-certificates would ask about them).
	for _, p := range sortedKeys(files) {
		if listed[p] || !strings.HasSuffix(p, ".crt") {
			continue
		}
		rel := strings.TrimPrefix(p, s.fam.CertsDir+"/")
		for _, e := range files[p] {
			st.addExtra(e, p, fmt.Sprintf("%s is not selected in %s: add the line %q there (or run dpkg-reconfigure ca-certificates) and run %s", p, s.fam.CertsConf, rel, s.refreshName()))
		}
	}
}

// readP11Kit reads the distribution's trust sources (vendor set and
// objects it marks distrusted) and the blocklist directories.
func (s *Store) readP11Kit(st *state, c collected) {
	for _, f := range c.blocklists {
		for _, e := range f.pr.Certs {
			if _, ok := st.blocked[e.sha256()]; !ok {
				st.blocked[e.sha256()] = f.p
			}
			st.noteDistrust(e, f.p)
		}
		for _, k := range f.pr.PublicKeys {
			st.blockSPKI[sum256(k)] = f.p
		}
	}
	for _, f := range c.vendor {
		p := f.p
		if isBlocklistPath(p) {
			continue
		}
		for _, e := range f.pr.Certs {
			fp := e.sha256()
			if e.Distrusted {
				if _, ok := st.blocked[fp]; !ok {
					st.blocked[fp] = p + " (x-distrusted)"
				}
			}
			switch b := st.blocked[fp]; {
			case e.Distrusted && b == p+" (x-distrusted)":
				st.addExtra(e, p, fmt.Sprintf("marked distrusted by the distribution (x-distrusted in %s)", p))
				continue
			case b != "":
				// Shipped but blocklisted: listed, untrusted, with the reason.
				st.addExtra(e, p, fmt.Sprintf("in the %s blocklist (%s)", display(s.fam.Name), b))
				continue
			}
			st.vendor[fp] = true
			if _, ok := st.source[fp]; !ok {
				st.source[fp] = p
			}
		}
	}
}

// srcFile is one parsed trust-source file.
type srcFile struct {
	p  string
	pr parsed
}

// collected is the raw material of the trust sources, read before the
// bundle is known.
type collected struct {
	conf       []byte    // ca-certificates.conf
	certsDir   []srcFile // every file of CertsDir
	blocklists []srcFile
	vendor     []srcFile
}

func (s *Store) collect() collected {
	var c collected
	if !s.fam.P11Kit {
		conf, err := s.readFile(s.fam.CertsConf)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("system store: cannot read certificate selection", "path", s.fam.CertsConf, "err", err)
		}
		c.conf = conf
		s.walkSources(s.fam.CertsDir, func(p string, pr parsed) { c.certsDir = append(c.certsDir, srcFile{p, pr}) })
		return c
	}
	for _, dir := range s.fam.Blocklists {
		s.walkSources(dir, func(p string, pr parsed) { c.blocklists = append(c.blocklists, srcFile{p, pr}) })
	}
	s.walkSources(s.fam.VendorDir, func(p string, pr parsed) { c.vendor = append(c.vendor, srcFile{p, pr}) })
	return c
}

func isBlocklistPath(p string) bool {
	return strings.Contains(p, "/blocklist/") || strings.Contains(p, "/blacklist/")
}

// walkFiles calls fn with the path (inside the root, under dir) and
// content of every file under dir — recursively, or only dir's own files
// when flat. dir is resolved inside the root once; entries that are
// symlinks are resolved inside the root too, plain files are read
// directly (a full Mozilla set is ~150 files: this is audit's hot path).
// Unreadable files are logged and skipped; a missing dir is empty.
func (s *Store) walkFiles(dir string, flat bool, fn func(p string, data []byte)) error {
	hdir := s.host(dir)
	var scratch []byte
	return filepath.WalkDir(hdir, func(hp string, d fs.DirEntry, err error) error {
		if err != nil {
			if hp == hdir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			s.log.Warn("system store: cannot read", "path", hp, "err", err)
			return nil
		}
		if d.IsDir() {
			if flat && hp != hdir {
				return fs.SkipDir
			}
			return nil
		}
		p := path.Join(dir, filepath.ToSlash(strings.TrimPrefix(hp, hdir)))
		var data []byte
		if d.Type()&fs.ModeSymlink != 0 {
			data, err = s.readFile(p)
		} else if d.Type().IsRegular() {
			data, err = readScratch(hp, p, &scratch)
		} else {
			return nil
		}
		if err != nil {
			s.log.Warn("system store: cannot read", "path", p, "err", err)
			return nil
		}
		fn(p, data)
		return nil
	})
}

// walkSources parses every file under dir (inside the root).
func (s *Store) walkSources(dir string, fn func(p string, pr parsed)) {
	_ = s.walkFiles(dir, false, func(p string, data []byte) {
		pr, err := parseSource(data)
		if err != nil {
			s.log.Debug("system store: not a certificate file", "path", p, "err", err)
			return
		}
		fn(p, pr)
	})
}

// sourceFile returns the certificates of one source file, nil (logged) when
// it cannot be read.
func (s *Store) sourceFile(p string) []entry {
	data, err := s.readFile(p)
	if err != nil {
		s.log.Debug("system store: cannot read", "path", p, "err", err)
		return nil
	}
	pr, err := parseSource(data)
	if err != nil {
		s.log.Warn("system store: not a certificate", "path", p, "err", err)
		return nil
	}
	return pr.Certs
}

func spkiOf(der []byte) string {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return ""
	}
	return sum256(c.RawSubjectPublicKeyInfo)
}

// anchors turns a state into List's answer. p11kit says whether the
// family keeps purposes (else every CA of the bundle is trusted for
// every purpose).
func (st *state) anchors(p11kit bool) []stores.Anchor {
	out := make([]stores.Anchor, 0, len(st.certs)+len(st.extra))
	seen := make(map[string]bool, len(st.certs))
	for i, c := range st.certs {
		fp := st.bundle[i].sha256()
		if seen[fp] {
			continue
		}
		seen[fp] = true
		label := st.source[fp]
		if label == "" {
			label = c.Subject.CommonName
		}
		a := stores.Anchor{Cert: c, SHA256: fp, Label: label, TrustedServerAuth: true, Vendor: st.vendor[fp], Purposes: st.purposesOf(fp, p11kit)}
		if b := st.blocked[fp]; b != "" {
			a.TrustedServerAuth = false
			st.reasons[fp] = fmt.Sprintf("blocklisted in %s but the bundle still holds it (not refreshed)", b)
		} else if b := st.blockSPKI[sum256(c.RawSubjectPublicKeyInfo)]; b != "" {
			a.TrustedServerAuth = false
			st.reasons[fp] = fmt.Sprintf("its key is blocklisted in %s but the bundle still holds it (not refreshed)", b)
		}
		out = append(out, a)
	}
	for _, x := range st.extra {
		c, err := x509.ParseCertificate(x.e.DER)
		if err != nil {
			continue // a source the tool could not use either
		}
		out = append(out, stores.Anchor{Cert: c, SHA256: x.e.sha256(), Label: x.label, TrustedServerAuth: false})
	}
	return out
}

// display is the family name as users write it.
func display(name string) string {
	switch name {
	case "rhel", "suse":
		return strings.ToUpper(name)
	case "":
		return "unknown"
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

// sortedKeys returns m's keys in order (deterministic output).
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// addPurposes records what an anchors-directory file trusts fp for (nil:
// a plain certificate, every purpose). Two files holding one CA trust it
// for the union.
func (st *state) addPurposes(fp string, ps []stores.Purpose) {
	if ps == nil {
		ps = []stores.Purpose{stores.PurposeAny}
	}
	st.purposes[fp] = stores.SortPurposes(append(st.purposes[fp], ps...))
}

// purposesOf returns what the store trusts fp for: every purpose in a
// bundle without trust settings (Debian, Alpine), what its anchors files
// say in a p11-kit family (nil when it comes from elsewhere, the
// distribution's own set).
func (st *state) purposesOf(fp string, p11kit bool) []stores.Purpose {
	if !p11kit {
		return []stores.Purpose{stores.PurposeAny}
	}
	return st.purposes[fp]
}
