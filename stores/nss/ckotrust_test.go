package nss

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"path/filepath"
	"strconv"
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
		trusted bool
	}{
		{"trust anchor sha256", cktTrustAnchor, ckmSHA256, false, true},
		{"trust anchor sha1", cktTrustAnchor, ckmSHA1, false, true},
		{"trust anchor default hash", cktTrustAnchor, 0, false, true},
		{"trusted peer", cktTrusted, ckmSHA256, false, false},
		{"not trusted", cktNotTrusted, ckmSHA256, false, false},
		{"must verify", cktMustVerifyTrust, ckmSHA256, false, false},
		{"unknown", cktTrustUnknown, ckmSHA256, false, false},
		{"hash of another certificate", cktTrustAnchor, ckmSHA256, true, false},
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

// testdata/cert9.db was written by certutil (NSS 3.87): "seed-ca" with
// trust C,, and "seed-c" with c,,. Reading it needs no tool.
func TestCommittedFixture(t *testing.T) {
	es, err := readDB(context.Background(), filepath.Join("testdata", "cert9.db"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range es {
		got[e.Label] = e.trusted()
	}
	if len(es) != 2 || !got["seed-ca"] || got["seed-c"] {
		t.Errorf("fixture read as %v", got)
	}
	if _, ok := got["seed-c"]; !ok {
		t.Error("seed-c missing")
	}
}
