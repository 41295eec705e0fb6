package nss

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/nss/nsstest"
)

func openStore(t *testing.T, root, dir, app string) *Store {
	t.Helper()
	s, err := Open(stores.Env{Root: root}, dir, app)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readFile(t *testing.T, hp string) []byte {
	t.Helper()
	b, err := os.ReadFile(hp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dbSnapshot is the bytes of every database file, to prove a failed
// operation left the store byte-identical.
func dbSnapshot(t *testing.T, hostDir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, f := range dbFiles {
		if b, err := os.ReadFile(filepath.Join(hostDir, f)); err == nil {
			m[f] = b
		}
	}
	return m
}

func sameSnapshot(t *testing.T, before map[string][]byte, hostDir string) {
	t.Helper()
	after := dbSnapshot(t, hostDir)
	for f, b := range before {
		if !bytes.Equal(b, after[f]) {
			t.Errorf("%s changed (%d -> %d bytes); the store must be byte-identical after a failure", f, len(b), len(after[f]))
		}
	}
	for f := range after {
		if _, ok := before[f]; !ok {
			t.Errorf("%s was created; the store must be byte-identical after a failure", f)
		}
	}
}

func anchorFor(as []stores.Anchor, c *x509.Certificate) (stores.Anchor, bool) {
	for _, a := range as {
		if a.SHA256 == stores.SHA256(c) {
			return a, true
		}
	}
	return stores.Anchor{}, false
}

// Databases written by certutil with every trust combination are read
// as certutil -L shows them: only "C" in the SSL field is a trusted CA
// for TLS server auth.
func TestListReadsCertutilTrust(t *testing.T) {
	root := t.TempDir()
	db := nsstest.NewDB(t, root, "/etc/pki/nssdb")
	cases := []struct {
		trust    string
		trusted  bool
		status   stores.Status
		purposes string
	}{
		{"C,,", true, stores.StatusCompliant, "serverAuth"},
		{",,", false, stores.StatusUntrusted, "nothing"},
		{"CT,C,C", true, stores.StatusOvertrusted, "serverAuth, clientAuth, codeSigning, emailProtection"},
		{"C,C,C", true, stores.StatusOvertrusted, "serverAuth, codeSigning, emailProtection"},
		{"CT,C,", true, stores.StatusOvertrusted, "serverAuth, clientAuth, emailProtection"}, // Firefox's Certificates.Install "CT,CT," as NSS 3.87 stores it
		{"c,,", false, stores.StatusUntrusted, "nothing"},
		{"p,,", false, stores.StatusUntrusted, "nothing"},
		{"P,,", false, stores.StatusUntrusted, "nothing"},
		{"T,,", false, stores.StatusUntrusted, "clientAuth"},
		{",C,", false, stores.StatusUntrusted, "emailProtection"},
		{"T,c,c", false, stores.StatusUntrusted, "clientAuth"},
	}
	cas := make([]*testpki.CA, len(cases))
	for i, tc := range cases {
		cas[i] = testpki.NewCA(t, "CA "+tc.trust)
		nsstest.AddCert(t, root, db, cas[i].Cert, "nick "+tc.trust, tc.trust)
	}
	s := openStore(t, root, db, "system")
	as, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != len(cases) {
		t.Fatalf("List returned %d anchors, want %d", len(as), len(cases))
	}
	for i, tc := range cases {
		a, ok := anchorFor(as, cas[i].Cert)
		if !ok {
			t.Errorf("%s: certificate not listed", tc.trust)
			continue
		}
		if a.TrustedServerAuth != tc.trusted {
			t.Errorf("trust %q: TrustedServerAuth = %v, want %v", tc.trust, a.TrustedServerAuth, tc.trusted)
		}
		if got := stores.JoinPurposes(a.Purposes); got != tc.purposes {
			t.Errorf("trust %q: purposes %s, want %s", tc.trust, got, tc.purposes)
		}
		if a.Label != "nick "+tc.trust {
			t.Errorf("trust %q: label %q, want %q", tc.trust, a.Label, "nick "+tc.trust)
		}
		if got := certutilTrust(t, root, db, a.Label); got != tc.trust {
			t.Errorf("certutil shows %q for %q", got, tc.trust)
		}
		if r := stores.Audit(context.Background(), s, []*x509.Certificate{cas[i].Cert}); r.Status != tc.status {
			t.Errorf("trust %q: audit %s (%s), want %s", tc.trust, r.Status, r.Detail, tc.status)
		}
	}
	other := testpki.NewCA(t, "absent")
	if r := stores.Audit(context.Background(), s, []*x509.Certificate{other.Cert}); r.Status != stores.StatusMissing {
		t.Errorf("absent CA: audit %s, want missing", r.Status)
	}
}

func certutilTrust(t *testing.T, root, dir, nick string) string {
	t.Helper()
	return nsstest.Trust(t, root, dir, nick)
}

func TestInstallThenCertutilListsC(t *testing.T) {
	root := t.TempDir()
	prof := nsstest.FirefoxProfile(t, root, "/home/alice", "abcd.default-release")
	ca := testpki.NewCA(t, "Corp Interception CA")
	s := openStore(t, root, prof, "firefox")
	ctx := context.Background()

	dry, err := s.Install(ctx, []*x509.Certificate{ca.Cert}, stores.Options{DryRun: true})
	if err != nil || len(dry) != 1 || dry[0].Action != stores.ActionAdded {
		t.Fatalf("dry run: %v %+v", err, dry)
	}
	if got := nsstest.Trust(t, root, prof, stores.Label(ca.Cert)); got != "" {
		t.Fatalf("dry run wrote the database: certutil shows %q", got)
	}

	ch, err := s.Install(ctx, []*x509.Certificate{ca.Cert}, stores.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ch) != 1 || ch[0].Action != stores.ActionAdded || ch[0].SHA256 != stores.SHA256(ca.Cert) {
		t.Fatalf("changes %+v", ch)
	}
	if got := nsstest.Trust(t, root, prof, stores.Label(ca.Cert)); got != "C,," {
		t.Fatalf("certutil -L shows %q for %s, want C,,\n%s", got, stores.Label(ca.Cert), nsstest.List(t, root, prof))
	}
	as, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := anchorFor(as, ca.Cert); !ok || !a.TrustedServerAuth {
		t.Fatalf("List after install: %+v", as)
	}

	// Idempotent: no certutil run, the files are untouched.
	snap := dbSnapshot(t, s.Dir())
	st, _ := os.Stat(s.dbFile())
	ch, err = s.Install(ctx, []*x509.Certificate{ca.Cert}, stores.Options{})
	if err != nil || len(ch) != 1 || ch[0].Action != stores.ActionUnchanged || stores.Changed(ch) {
		t.Fatalf("second install: %v %+v", err, ch)
	}
	sameSnapshot(t, snap, s.Dir())
	st2, _ := os.Stat(s.dbFile())
	if !st.ModTime().Equal(st2.ModTime()) {
		t.Error("second install touched cert9.db")
	}
}

func TestInstallFixesTrustKeepingNickname(t *testing.T) {
	root := t.TempDir()
	db := nsstest.ChromiumDB(t, root, "/home/bob")
	ca := testpki.NewCA(t, "Corp CA")
	nsstest.AddCert(t, root, db, ca.Cert, "Corp CA imported by hand", "c,,")
	s := openStore(t, root, db, "chromium")
	ch, err := s.Install(context.Background(), []*x509.Certificate{ca.Cert}, stores.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ch[0].Action != stores.ActionTrusted {
		t.Errorf("action %q, want trusted", ch[0].Action)
	}
	if got := nsstest.Trust(t, root, db, "Corp CA imported by hand"); got != "C,," {
		t.Errorf("certutil shows %q, want C,,\n%s", got, nsstest.List(t, root, db))
	}
	if strings.Contains(nsstest.List(t, root, db), stores.LabelPrefix) {
		t.Error("a second entry with our label was added")
	}
}

func TestRemoveByFingerprintWhateverTheNickname(t *testing.T) {
	root := t.TempDir()
	db := nsstest.ChromiumDB(t, root, "/home/bob")
	ours := testpki.NewCA(t, "Rotated CA")
	keep := testpki.NewCA(t, "Rotated CA") // same subject, other key: NSS resolves both by one nickname
	bystander := testpki.NewCA(t, "Bystander")
	nsstest.AddCert(t, root, db, keep.Cert, "rotated-new", "C,,")
	nsstest.AddCert(t, root, db, ours.Cert, "someone-elses-name", "C,,")
	nsstest.AddCert(t, root, db, bystander.Cert, "bystander", "CT,C,C")
	s := openStore(t, root, db, "chromium")
	ctx := context.Background()

	fp := strings.ToUpper(stores.SHA256(ours.Cert)) // any case is accepted
	ch, err := s.Remove(ctx, []string{fp, strings.Repeat("ab", 32)}, stores.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ch[0].Action != stores.ActionRemoved || ch[1].Action != stores.ActionUnchanged {
		t.Errorf("changes %+v", ch)
	}
	as, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := anchorFor(as, ours.Cert); ok {
		t.Errorf("removed certificate still listed\n%s", nsstest.List(t, root, db))
	}
	if a, ok := anchorFor(as, keep.Cert); !ok || !a.TrustedServerAuth {
		t.Errorf("the certificate sharing the subject lost its entry or trust: %+v\n%s", a, nsstest.List(t, root, db))
	}
	if got := nsstest.Trust(t, root, db, "bystander"); got != "CT,C,C" {
		t.Errorf("bystander trust %q, want CT,C,C", got)
	}
	ch, err = s.Remove(ctx, []string{fp}, stores.Options{})
	if err != nil || ch[0].Action != stores.ActionUnchanged {
		t.Errorf("second remove: %v %+v", err, ch)
	}
	if _, err := s.Remove(ctx, []string{"not-a-fingerprint"}, stores.Options{}); err == nil {
		t.Error("a malformed fingerprint was accepted")
	}
}

func TestInstallRemoveKeepOwnerAndMode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test checks ownership and must run as root (CI runs tests as root)")
	}
	root := t.TempDir()
	writePasswd(t, root, "root:x:0:0:root:/root:/bin/bash\nalice:x:4242:4343:Alice:/home/alice:/bin/bash\n")
	prof := nsstest.FirefoxProfile(t, root, "/home/alice", "x1.default")
	nsstest.Chown(t, root, "/home/alice", 4242, 4343)
	hp := fsroot.Join(root, prof)
	if err := os.Chmod(filepath.Join(hp, "cert9.db"), 0o640); err != nil {
		t.Fatal(err)
	}
	// A certutil wrapper that records who runs it.
	wrapDir := t.TempDir()
	os.Chmod(wrapDir, 0o777)
	uidLog := filepath.Join(wrapDir, "uids")
	wrapper := filepath.Join(wrapDir, "certutil")
	os.WriteFile(wrapper, []byte("#!/bin/sh\nid -u >> "+uidLog+"\nexec "+nsstest.Certutil(t)+" \"$@\"\n"), 0o755)
	s := openStore(t, root, prof, "firefox").WithCertutil(wrapper)
	defer func() {
		uids := strings.Fields(string(readFile(t, uidLog)))
		if len(uids) == 0 {
			t.Error("certutil never ran")
		}
		for _, u := range uids {
			if u != "4242" {
				t.Errorf("certutil ran as uid %s, want the owner 4242", u)
			}
		}
	}()
	if s.Info().Owner != "alice" {
		t.Errorf("owner %q, want alice", s.Info().Owner)
	}
	ca := testpki.NewCA(t, "Owner CA")
	if _, err := s.Install(context.Background(), []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove(context.Background(), []string{stores.SHA256(ca.Cert)}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range dbFiles {
		fi, err := os.Stat(filepath.Join(hp, f))
		if err != nil {
			t.Fatal(err)
		}
		if uid, gid := fsroot.FileOwner(fi); uid != 4242 || gid != 4343 {
			t.Errorf("%s owned by %d:%d, want 4242:4343", f, uid, gid)
		}
	}
	if fi, _ := os.Stat(filepath.Join(hp, "cert9.db")); fi.Mode().Perm() != 0o640 {
		t.Errorf("cert9.db mode %o, want 640", fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(hp)
	for _, e := range ents {
		fi, _ := e.Info()
		if uid, _ := fsroot.FileOwner(fi); uid != 4242 {
			t.Errorf("%s in the profile is owned by uid %d after certutil ran", e.Name(), uid)
		}
	}
}

func writePasswd(t *testing.T, root, content string) {
	t.Helper()
	hp := fsroot.Join(root, "/etc/passwd")
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Broken stores: a precise error, and not one byte changed.
func TestBrokenStoresFailCleanly(t *testing.T) {
	ca := testpki.NewCA(t, "Broken test CA")
	type setup func(t *testing.T, root, db string) *Store
	cases := []struct {
		name    string
		setup   setup
		listErr string // "" when List must succeed
		instErr error
		instMsg string
	}{
		{
			name: "garbage",
			setup: func(t *testing.T, root, db string) *Store {
				os.WriteFile(filepath.Join(fsroot.Join(root, db), "cert9.db"), bytes.Repeat([]byte("garbage!"), 4096), 0o600)
				return openStore(t, root, db, "firefox")
			},
			listErr: "no SQLite header",
			instErr: ErrNotNSSDB,
		},
		{
			name: "truncated",
			setup: func(t *testing.T, root, db string) *Store {
				hp := filepath.Join(fsroot.Join(root, db), "cert9.db")
				b := readFile(t, hp)
				os.WriteFile(hp, b[:len(b)/2], 0o600)
				return openStore(t, root, db, "firefox")
			},
			listErr: "truncated",
			instErr: ErrNotNSSDB,
		},
		{
			name: "empty",
			setup: func(t *testing.T, root, db string) *Store {
				os.WriteFile(filepath.Join(fsroot.Join(root, db), "cert9.db"), nil, 0o600)
				return openStore(t, root, db, "firefox")
			},
			listErr: "the file is empty",
			instErr: ErrNotNSSDB,
		},
		{
			name: "corrupt page",
			setup: func(t *testing.T, root, db string) *Store {
				hp := filepath.Join(fsroot.Join(root, db), "cert9.db")
				b := readFile(t, hp)
				for i := 100; i < len(b); i++ { // keep the header, wreck every page
					b[i] ^= 0x5a
				}
				os.WriteFile(hp, b, 0o600)
				return openStore(t, root, db, "firefox")
			},
			listErr: "corrupt",
			instErr: nil,
			instMsg: "corrupt",
		},
		{
			name: "sqlite but not nss",
			setup: func(t *testing.T, root, db string) *Store {
				hp := filepath.Join(fsroot.Join(root, db), "cert9.db")
				os.Remove(hp)
				mustExecSQL(t, hp, "CREATE TABLE other (x)")
				return openStore(t, root, db, "firefox")
			},
			listErr: "no nssPublic table",
			instErr: ErrNotNSSDB,
		},
		{
			name: "missing certutil",
			setup: func(t *testing.T, root, db string) *Store {
				return openStore(t, root, db, "firefox").WithCertutil(filepath.Join(t.TempDir(), "certutil"))
			},
			instErr: ErrCertutilMissing,
			instMsg: "libnss3-tools",
		},
		{
			name: "read-only",
			setup: func(t *testing.T, root, db string) *Store {
				hp := fsroot.Join(root, db)
				for _, f := range dbFiles {
					os.Chmod(filepath.Join(hp, f), 0o444)
				}
				return openStore(t, root, db, "firefox")
			},
			instErr: ErrReadOnly,
			instMsg: "mode 0444",
		},
		{
			name: "primary password",
			setup: func(t *testing.T, root, db string) *Store {
				hp := fsroot.Join(root, db)
				pw := filepath.Join(t.TempDir(), "pw")
				os.WriteFile(pw, []byte("\n"), 0o600) // the empty old password
				os.WriteFile(pw+".new", []byte("s3cret\n"), 0o600)
				nsstest.Run(t, nil, "-W", "-d", "sql:"+hp, "-f", pw, "-@", pw+".new")
				return openStore(t, root, db, "firefox")
			},
			instErr: ErrPrimaryPassword,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			db := nsstest.FirefoxProfile(t, root, "/home/carol", "p.default")
			nsstest.AddCert(t, root, db, testpki.NewCA(t, "already there").Cert, "present", "C,,")
			s := tc.setup(t, root, db)
			snap := dbSnapshot(t, s.Dir())
			ctx := context.Background()
			_, err := s.List(ctx)
			switch {
			case tc.listErr == "" && err != nil:
				t.Errorf("List: %v", err)
			case tc.listErr != "" && (err == nil || !strings.Contains(err.Error(), tc.listErr)):
				t.Errorf("List error %v, want one containing %q", err, tc.listErr)
			}
			if tc.listErr != "" {
				if r := stores.Audit(ctx, s, []*x509.Certificate{ca.Cert}); r.Status != stores.StatusError {
					t.Errorf("audit status %s, want error", r.Status)
				}
			}
			_, err = s.Install(ctx, []*x509.Certificate{ca.Cert}, stores.Options{})
			if err == nil {
				t.Fatal("Install succeeded")
			}
			t.Logf("install error: %v", err)
			if tc.instErr != nil && !errors.Is(err, tc.instErr) {
				t.Errorf("Install error %v, want %v", err, tc.instErr)
			}
			if tc.instMsg != "" && !strings.Contains(err.Error(), tc.instMsg) {
				t.Errorf("Install error %v, want one mentioning %q", err, tc.instMsg)
			}
			if !strings.Contains(err.Error(), db) {
				t.Errorf("error %q does not name the database %s", err, db)
			}
			_, err = s.Remove(ctx, []string{stores.SHA256(ca.Cert)}, stores.Options{})
			if tc.listErr != "" && err == nil {
				t.Error("Remove on an unreadable store succeeded")
			}
			sameSnapshot(t, snap, s.Dir())
		})
	}
}

func TestLegacyCert8IsReported(t *testing.T) {
	root := t.TempDir()
	iniDir := "/home/dave/.mozilla/firefox"
	prof := path.Join(iniDir, "old.default")
	hp := fsroot.Join(root, prof)
	os.MkdirAll(hp, 0o755)
	os.WriteFile(filepath.Join(hp, "cert8.db"), []byte("\x00\x06\x15\x61 berkeley db"), 0o600)
	os.WriteFile(fsroot.Join(root, path.Join(iniDir, "profiles.ini")), []byte("[Profile0]\nName=old\nIsRelative=1\nPath=old.default\n"), 0o644)
	ss, err := Discover(context.Background(), stores.Env{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 {
		t.Fatalf("found %d stores, want 1", len(ss))
	}
	info := ss[0].Info()
	if info.Format != FormatCert8 || info.Note != legacyNote || info.Writable {
		t.Errorf("info %+v", info)
	}
	if _, err := ss[0].List(context.Background()); err == nil {
		t.Error("List of a cert8.db succeeded")
	}
	ca := testpki.NewCA(t, "x")
	if _, err := ss[0].Install(context.Background(), []*x509.Certificate{ca.Cert}, stores.Options{}); !errors.Is(err, stores.ErrNotSupported) {
		t.Errorf("Install error %v, want ErrNotSupported", err)
	}
	if _, err := ss[0].Remove(context.Background(), []string{stores.SHA256(ca.Cert)}, stores.Options{}); !errors.Is(err, stores.ErrNotSupported) {
		t.Errorf("Remove error %v, want ErrNotSupported", err)
	}
	if r := stores.Audit(context.Background(), ss[0], []*x509.Certificate{ca.Cert}); r.Status != stores.StatusError || !strings.Contains(r.Detail, "cert8.db") {
		t.Errorf("audit %+v", r)
	}
}

func TestWatchSpec(t *testing.T) {
	root := t.TempDir()
	db := nsstest.ChromiumDB(t, root, "/home/erin")
	s := openStore(t, root, db, "chromium")
	w := s.Watch()
	want := []string{fsroot.Join(root, db), filepath.Join(fsroot.Join(root, db), "cert9.db"), filepath.Join(fsroot.Join(root, db), "key4.db")}
	if len(w.Paths) != 3 || w.Paths[0] != want[0] || w.Paths[1] != want[1] || w.Paths[2] != want[2] {
		t.Errorf("watch %v, want %v", w.Paths, want)
	}
}

// A certutil that fails half-way through an Install: what was done
// before the failure is undone, so the store holds what it held.
func TestInstallRollsBackOnFailure(t *testing.T) {
	root := t.TempDir()
	db := nsstest.ChromiumDB(t, root, "/home/frank")
	first := testpki.NewCA(t, "First CA")
	second := testpki.NewCA(t, "Second CA")
	hand := testpki.NewCA(t, "Hand-imported CA")
	nsstest.AddCert(t, root, db, hand.Cert, "by hand", "c,,")
	real := nsstest.Certutil(t)
	fake := filepath.Join(t.TempDir(), "certutil")
	script := "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = \"" + stores.Label(second.Cert) + "\" ] && { echo 'certutil: SEC_ERROR_IO: simulated failure' >&2; exit 255; }; done\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	before := nsstest.List(t, root, db)
	s := openStore(t, root, db, "chromium").WithCertutil(fake)
	_, err := s.Install(context.Background(), []*x509.Certificate{first.Cert, hand.Cert, second.Cert}, stores.Options{})
	if err == nil || !strings.Contains(err.Error(), "simulated failure") {
		t.Fatalf("Install error %v, want the certutil failure", err)
	}
	if after := nsstest.List(t, root, db); after != before {
		t.Errorf("store changed by a failed install:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// A sandbox root under a directory only root can enter: the owner's
// certutil cannot reach the database by its path, so it works, as the
// owner, on a private copy that is moved back as the owner — never as
// root. The files end up owned by the owner and the copy is gone.
func TestInstallWhenOwnerCannotReachTheRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test checks ownership and must run as root (CI runs tests as root)")
	}
	root := t.TempDir()
	if err := os.Chmod(root, 0o700); err != nil {
		t.Fatal(err)
	}
	db := nsstest.ChromiumDB(t, root, "/home/gina")
	filepath.Walk(fsroot.Join(root, "/home/gina"), func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 4545, 4545) })
	s := openStore(t, root, db, "chromium")
	ca := testpki.NewCA(t, "Unreachable owner CA")
	if _, err := s.Install(context.Background(), []*x509.Certificate{ca.Cert}, stores.Options{}); err != nil {
		t.Fatal(err)
	}
	if got := nsstest.Trust(t, root, db, stores.Label(ca.Cert)); got != "C,," {
		t.Errorf("certutil shows %q, want C,,", got)
	}
	ents, _ := os.ReadDir(s.Dir())
	for _, e := range ents {
		fi, _ := e.Info()
		if uid, gid := fsroot.FileOwner(fi); uid != 4545 || gid != 4545 {
			t.Errorf("%s owned by %d:%d, want 4545:4545", e.Name(), uid, gid)
		}
	}
}
