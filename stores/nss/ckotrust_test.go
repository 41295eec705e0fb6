package nss

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"database/sql"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
	"github.com/anchorwatch/anchorwatch/stores/nss/nsstest"
)

func mustExecSQL(t *testing.T, hp string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+hp)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func ulong(v uint32) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, v)
	return b
}

// TestPKCS11TrustObjects reads CKO_TRUST rows (PKCS#11 3.2), which NSS
// writes from 3.114 on. Debian 12 ships NSS 3.87, so this is a
// constructed fixture: a database made by certutil, the certificate
// imported with ",," (no trust object), then a CKO_TRUST row inserted by
// hand the way NSS >= 3.114 lays it out (same nssPublic table, columns
// a0 class, a81 issuer, a82 serial, a62c CKA_TRUST_SERVER_AUTH, a635
// CKA_HASH_OF_CERTIFICATE, a8c CKA_NAME_HASH_ALGORITHM).
func TestPKCS11TrustObjects(t *testing.T) {
	cases := []struct {
		name    string
		server  uint32
		hashAlg uint32 // 0: attribute absent
		badHash bool
		noMAC   bool // the row is not signed in key4.db
		trusted bool
	}{
		{"trust anchor sha256", cktTrustAnchor, ckmSHA256, false, false, true},
		{"trust anchor sha1", cktTrustAnchor, ckmSHA1, false, false, true},
		{"trust anchor default hash", cktTrustAnchor, 0, false, false, true},
		{"trusted peer", cktTrusted, ckmSHA256, false, false, false},
		{"not trusted", cktNotTrusted, ckmSHA256, false, false, false},
		{"must verify", cktMustVerifyTrust, ckmSHA256, false, false, false},
		{"unknown", cktTrustUnknown, ckmSHA256, false, false, false},
		{"hash of another certificate", cktTrustAnchor, ckmSHA256, true, false, false},
		{"trust anchor without MAC", cktTrustAnchor, ckmSHA256, false, true, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			db := nsstest.NewDB(t, root, "/etc/pki/nssdb")
			ca := testpki.NewCA(t, "PKCS11 3.2 CA")
			nsstest.AddCert(t, root, db, ca.Cert, "p11ca", ",,")
			hp := filepath.Join(fsroot.Join(root, db), "cert9.db")
			var hash []byte
			switch tc.hashAlg {
			case ckmSHA256:
				h := sha256.Sum256(ca.Cert.Raw)
				hash = h[:]
			default:
				h := sha1.Sum(ca.Cert.Raw)
				hash = h[:]
			}
			if tc.badHash {
				hash = append([]byte(nil), hash...)
				hash[0] ^= 0xff
			}
			addColumns(t, hp, colPKCSServerAuth, colPKCSCertHash, colPKCSHashAlg)
			alg := "NULL"
			if tc.hashAlg != 0 {
				alg = hexLit(ulong(tc.hashAlg))
			}
			mustExecSQL(t, hp, `INSERT INTO nssPublic (id, a0, a1, a2, a3, a81, a82, a62c, a635, a8c)
				SELECT `+strconv.Itoa(900000+i)+`, `+hexLit(ulong(ckoTrust))+`, x'01', x'00', x'a5005a', a81, a82, `+
				hexLit(ulong(tc.server))+`, `+hexLit(hash)+`, `+alg+`
				FROM nssPublic WHERE a0 = x'00000001'`)
			if !tc.noMAC {
				key := filepath.Join(fsroot.Join(root, db), "key4.db")
				id := uint32(900000 + i)
				signAttr(t, key, id, ckaTrustServerAuth, ulong(tc.server))
				signAttr(t, key, id, ckaHashOfCertificate, hash)
				if tc.hashAlg != 0 {
					signAttr(t, key, id, ckaNameHashAlgorithm, ulong(tc.hashAlg))
				}
			}
			s := openStore(t, root, db, "system")
			as, err := s.List(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			a, ok := anchorFor(as, ca.Cert)
			if !ok {
				t.Fatal("certificate not listed")
			}
			if a.TrustedServerAuth != tc.trusted {
				t.Errorf("TrustedServerAuth = %v, want %v", a.TrustedServerAuth, tc.trusted)
			}
		})
	}
}

// signAttr stores the MAC NSS would store for attribute typ of object id
// in the key4.db at keyHP (empty password): PBMAC1 with PBKDF2-HMAC-SHA256,
// one iteration, over the object id, the type and the value. The format
// is the one NSS 3.125 writes (TestFirefoxNSSTrust checks we read those);
// this only lets a constructed row carry a valid one.
func signAttr(t *testing.T, keyHP string, id, typ uint32, value []byte) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+keyHP)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var globalSalt []byte
	if err := db.QueryRow("SELECT item1 FROM metaData WHERE id = 'password'").Scan(&globalSalt); err != nil {
		t.Fatal(err)
	}
	salt := make([]byte, 32)
	rand.Read(salt)
	key, err := pbkdf2.Key(sha256.New, string(passwordKey(globalSalt, "")), salt, 1, 32)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write(ulong(id))
	m.Write(ulong(typ))
	m.Write(value)
	hmacSHA256 := algorithmID{Algorithm: append(asn1.ObjectIdentifier{}, append(oidHMAC, 9)...)}
	kdf, _ := asn1.Marshal(pbkdf2Params{Salt: salt, Iterations: 1, KeyLength: 32, PRF: hmacSHA256})
	params, _ := asn1.Marshal(pbmac1Params{KDF: algorithmID{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdf}}, MAC: hmacSHA256})
	sig, err := asn1.Marshal(cipherValue{Algorithm: algorithmID{Algorithm: oidPBMAC1, Parameters: asn1.RawValue{FullBytes: params}}, Value: m.Sum(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT OR REPLACE INTO metaData (id, item1, item2) VALUES (?, ?, x'')", sigID(id, typ), sig); err != nil {
		t.Fatal(err)
	}
}

// addColumns adds attribute columns a certutil 3.87 table lacks, as a
// newer NSS does when it meets attributes it did not know at creation.
func addColumns(t *testing.T, hp string, cols ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+hp)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("PRAGMA table_info(nssPublic)")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for rows.Next() {
		var cid int
		var name, typ string
		var notnull int
		var dflt any
		var pk int
		if err := rows.Scan(&cid, &name, &typ, &notnull, &dflt, &pk); err != nil {
			t.Fatal(err)
		}
		have[name] = true
	}
	rows.Close()
	for _, c := range cols {
		if !have[c] {
			if _, err := db.Exec("ALTER TABLE nssPublic ADD COLUMN " + c); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func hexLit(b []byte) string { return "x'" + hex.EncodeToString(b) + "'" }

// A legacy trust object whose SHA-1 does not match the certificate is
// ignored, as NSS ignores it.
func TestLegacyTrustHashMismatchIgnored(t *testing.T) {
	root := t.TempDir()
	db := nsstest.NewDB(t, root, "/etc/pki/nssdb")
	ca := testpki.NewCA(t, "Legacy CA")
	nsstest.AddCert(t, root, db, ca.Cert, "legacy", "C,,")
	hp := filepath.Join(fsroot.Join(root, db), "cert9.db")
	s := openStore(t, root, db, "system")
	r := stores.Audit(context.Background(), s, nil)
	if len(r.Anchors) != 1 || !r.Anchors[0].TrustedServerAuth {
		t.Fatalf("before tampering: %+v", r.Anchors)
	}
	mustExecSQL(t, hp, "UPDATE nssPublic SET "+colNSSCertSHA1+" = x'00112233445566778899aabbccddeeff00112233' WHERE a0 = x'ce534353'")
	r = stores.Audit(context.Background(), s, nil)
	if len(r.Anchors) != 1 || r.Anchors[0].TrustedServerAuth {
		t.Fatalf("after tampering: %+v", r.Anchors)
	}
}

// testdata/cert9.db and key4.db were written by certutil (NSS 3.87):
// "seed-ca" with trust C,, and "seed-c" with c,,. Reading them needs no
// tool. Without its key4.db, or with another database's, no trust MAC
// verifies and NSS trusts neither (certutil -L shows ",,").
func TestCommittedFixture(t *testing.T) {
	cert, err := os.ReadFile(filepath.Join("testdata", "cert9.db"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join("testdata", "key4.db"))
	if err != nil {
		t.Fatal(err)
	}
	read := func(key []byte) map[string]bool {
		t.Helper()
		es, err := parseDB(context.Background(), cert, key, "fixture")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, e := range es {
			got[e.Label] = e.trusted()
		}
		if _, ok := got["seed-c"]; len(es) != 2 || !ok {
			t.Fatalf("fixture read as %v", got)
		}
		return got
	}
	if got := read(key); !got["seed-ca"] || got["seed-c"] {
		t.Errorf("fixture read as %v", got)
	}
	if got := read(nil); got["seed-ca"] {
		t.Error("without key4.db seed-ca still reads as trusted")
	}
	fresh := t.TempDir()
	nsstest.Run(t, nil, "-N", "-d", "sql:"+fresh, "--empty-password")
	if got := read(readFile(t, filepath.Join(fresh, "key4.db"))); got["seed-ca"] {
		t.Error("with a fresh key4.db seed-ca still reads as trusted")
	}
}

// The real NSS that writes PKCS#11 3.2 trust objects: Firefox ESR's own
// libraries (NSS 3.125) under the system certutil. Every trust it writes
// is read as certutil shows it, and after a fresh key4.db is copied over
// (what a user does to shed the CA without anyone noticing) NSS trusts
// nothing any more — and neither do we.
func TestFirefoxNSSTrust(t *testing.T) {
	env := nsstest.FirefoxNSS(t)
	root := t.TempDir()
	hp := fsroot.Join(root, "/home/u/.pki/nssdb")
	os.MkdirAll(hp, 0o755)
	nsstest.RunEnv(t, env, nil, "-N", "-d", "sql:"+hp, "--empty-password")
	trusts := []string{"C,,", "c,,", "P,,", "p,,", "CT,C,C", ",,"}
	cas := map[string]*testpki.CA{}
	for _, tr := range trusts {
		cas[tr] = testpki.NewCA(t, "Firefox NSS "+tr)
		nsstest.RunEnv(t, env, testpki.PEM(cas[tr].Cert), "-A", "-d", "sql:"+hp, "-n", "nick "+tr, "-t", tr, "-a")
	}
	var n int
	db, _ := sql.Open("sqlite", "file:"+filepath.Join(hp, "cert9.db")+"?mode=ro")
	db.QueryRow("SELECT count(*) FROM nssPublic WHERE a0 = ?", ulong(ckoTrust)).Scan(&n)
	db.Close()
	if n == 0 {
		t.Fatal("Firefox's NSS wrote no CKO_TRUST object")
	}
	shown := func() map[string]string {
		m := map[string]string{}
		for _, line := range strings.Split(nsstest.RunEnv(t, env, nil, "-L", "-d", "sql:"+hp), "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == "nick" {
				m[f[1]] = f[2]
			}
		}
		return m
	}
	s := openStore(t, root, "/home/u/.pki/nssdb", "chromium")
	check := func(when string, nssSays map[string]string) {
		as, err := s.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range trusts {
			a, ok := anchorFor(as, cas[tr].Cert)
			if !ok {
				t.Fatalf("%s: %s not listed", when, tr)
			}
			want := strings.Contains(strings.Split(nssSays[tr], ",")[0], "C")
			if a.TrustedServerAuth != want {
				t.Errorf("%s: trust written as %q, NSS shows %q: TrustedServerAuth %v, want %v", when, tr, nssSays[tr], a.TrustedServerAuth, want)
			}
		}
	}
	before := shown()
	if !strings.HasPrefix(before["C,,"], "C") {
		t.Fatalf("NSS shows %v", before)
	}
	check("as written", before)
	fresh := t.TempDir()
	nsstest.RunEnv(t, env, nil, "-N", "-d", "sql:"+fresh, "--empty-password")
	if err := os.WriteFile(filepath.Join(hp, "key4.db"), readFile(t, filepath.Join(fresh, "key4.db")), 0o600); err != nil {
		t.Fatal(err)
	}
	after := shown()
	if strings.Contains(after["C,,"], "C") {
		t.Fatalf("with a fresh key4.db NSS still shows %q", after["C,,"])
	}
	check("with a fresh key4.db", after)
}
