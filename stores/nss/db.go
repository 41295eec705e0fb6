package nss

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // pure-Go SQLite driver, registered as "sqlite"

	"github.com/anchorwatch/anchorwatch/stores"
)

// entry is one certificate object of a cert9.db with the trust NSS would
// find for it, or a trust object left without its certificate (Cert nil).
//
// A database can hold two trust objects for one certificate: the legacy
// CKO_NSS_TRUST, the only one NSS < 3.114 reads (Debian 12's certutil and
// Chromium), and the PKCS#11 3.2 CKO_TRUST that NSS >= 3.114 (Firefox
// ESR 153 ships 3.125) writes and prefers whenever it exists.
type entry struct {
	Cert   *x509.Certificate // nil: a trust object whose certificate is gone
	DER    []byte
	SHA256 string // "" for a leftover trust object that names its certificate by SHA-1 only
	Label  string // CKA_LABEL: the nickname certutil -L shows
	// Legacy is the CKO_NSS_TRUST trust (HasLegacy: there is one), PKCS
	// the CKO_TRUST trust (HasPKCS).
	Legacy, PKCS       trustFlags
	HasLegacy, HasPKCS bool
	// Issuer and Serial name the certificate of a leftover trust object.
	Issuer, Serial []byte
}

// orphan reports whether e is a trust object without its certificate:
// NSS applies it to that certificate whenever a server sends it.
func (e entry) orphan() bool { return e.Cert == nil }

// current is the trust NSS >= 3.114 finds: the CKO_TRUST object when
// there is one, else the legacy one.
func (e entry) current() (trustFlags, bool) {
	if e.HasPKCS {
		return e.PKCS, true
	}
	return e.Legacy, e.HasLegacy
}

// views returns the trust each NSS generation finds: the current one,
// and the legacy object when it exists and the current one is not it.
func (e entry) views() []trustFlags {
	cur, ok := e.current()
	if !ok {
		return nil
	}
	if e.HasPKCS && e.HasLegacy {
		return []trustFlags{cur, e.Legacy}
	}
	return []trustFlags{cur}
}

// trusted reports whether NSS trusts the certificate as a CA for TLS
// server authentication: the current trust says so, and so does a
// legacy object an older NSS would read instead.
func (e entry) trusted() bool {
	vs := e.views()
	for _, v := range vs {
		if !v.serverAuthAnchor() {
			return false
		}
	}
	return len(vs) > 0 && !e.orphan()
}

// distrusted reports whether every trust object of e refuses it ("p"
// in the SSL field): what Distrust writes.
func (e entry) distrusted() bool {
	vs := e.views()
	for _, v := range vs {
		if !v.distrusted() {
			return false
		}
	}
	return len(vs) > 0
}

// purposes returns what any NSS generation trusts e for as a CA.
func (e entry) purposes() []stores.Purpose {
	var out []stores.Purpose
	for _, v := range e.views() {
		out = append(out, v.purposes()...)
	}
	return stores.SortPurposes(out)
}

// trust returns the trust string to put back for e ("C,,"), ",," when it
// has none.
func (e entry) trust() string {
	if cur, ok := e.current(); ok {
		return cur.String()
	}
	return ",,"
}

// sqliteMagic starts every SQLite 3 database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// ErrNotNSSDB is returned (wrapped) for a cert9.db that is not an NSS
// certificate database: not SQLite, truncated, or without nssPublic.
var ErrNotNSSDB = errors.New("not an NSS cert9.db")

// parseDB reads every certificate and trust object of a cert9.db given
// as bytes, with the trust NSS itself would find: trust attributes count
// only when their MACs in key4.db verify, as NSS checks them (mac.go).
// keyDB is the bytes of key4.db, nil when there is none. where names the
// database in errors.
//
// SQLite parses the bytes in memory: nothing here opens a path, so
// nothing here can be redirected, blocked or made to write.
func parseDB(ctx context.Context, certDB, keyDB []byte, where string) ([]entry, error) {
	if err := sniff(certDB, where); err != nil {
		return nil, err
	}
	var objs []object
	err := inMemory(ctx, certDB, func(c *sql.Conn) error {
		var err error
		objs, err = readObjects(ctx, c, where)
		return err
	})
	if err != nil {
		return nil, err
	}
	mac, err := readKeyDB(ctx, keyDB)
	if err != nil {
		return nil, fmt.Errorf("%s: key4.db: %w", where, err)
	}
	return buildEntries(objs, mac)
}

// inMemory loads data as a SQLite database in memory and hands fn a
// connection to it that cannot write and runs nothing a crafted schema
// asks for.
func inMemory(ctx context.Context, data []byte, fn func(*sql.Conn) error) error {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	err = c.Raw(func(dc any) error {
		d, ok := dc.(interface{ Deserialize([]byte) error })
		if !ok {
			return errors.New("the SQLite driver cannot load a database from memory")
		}
		return d.Deserialize(bytes.Clone(data))
	})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotNSSDB, err)
	}
	if _, err := c.ExecContext(ctx, "PRAGMA trusted_schema=OFF; PRAGMA query_only=ON; PRAGMA cell_size_check=ON"); err != nil {
		return err
	}
	return fn(c)
}

// isTable reports whether name is a real table (not a view) of c.
func isTable(ctx context.Context, c *sql.Conn, name string) (bool, error) {
	var typ string
	err := c.QueryRowContext(ctx, "SELECT type FROM sqlite_master WHERE name = ?", name).Scan(&typ)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return typ == "table", err
}

// readObjects reads the rows of nssPublic, reduced to the attributes we
// use.
func readObjects(ctx context.Context, c *sql.Conn, where string) ([]object, error) {
	corrupt := func(err error) error {
		return fmt.Errorf("%s: read: %w (is the file corrupt? certutil -L -d sql:DIR shows what NSS makes of it)", where, err)
	}
	ok, err := isTable(ctx, c, nssPublicTable)
	if err != nil {
		return nil, corrupt(err)
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w: it has no %s table", where, ErrNotNSSDB, nssPublicTable)
	}
	rows, err := c.QueryContext(ctx, "SELECT * FROM "+nssPublicTable)
	if err != nil {
		return nil, corrupt(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, corrupt(err)
	}
	idx := map[string]int{}
	for i, col := range cols {
		idx[strings.ToLower(col)] = i
	}
	if _, ok := idx[colClass]; !ok {
		return nil, fmt.Errorf("%s: %w: %s has no class column %s", where, ErrNotNSSDB, nssPublicTable, colClass)
	}
	raw := make([]sql.RawBytes, len(cols))
	dest := make([]any, len(cols))
	for i := range raw {
		dest[i] = &raw[i]
	}
	get := func(name string) []byte {
		i, ok := idx[name]
		if !ok || raw[i] == nil {
			return nil
		}
		return bytes.Clone(raw[i])
	}
	var objs []object
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, corrupt(err)
		}
		id, _ := strconv.ParseUint(string(get(colID)), 10, 32)
		objs = append(objs, object{
			ID:         uint32(id),
			Class:      get(colClass),
			Label:      get(colLabel),
			Value:      get(colValue),
			Issuer:     get(colIssuer),
			Serial:     get(colSerial),
			NSSServer:  get(colNSSServerAuth),
			NSSClient:  get(colNSSClientAuth),
			NSSCode:    get(colNSSCodeSigning),
			NSSEmail:   get(colNSSEmail),
			NSSSHA1:    get(colNSSCertSHA1),
			PKCSServer: get(colPKCSServerAuth),
			PKCSClient: get(colPKCSClientAuth),
			PKCSCode:   get(colPKCSCodeSign),
			PKCSEmail:  get(colPKCSEmail),
			PKCSHash:   get(colPKCSCertHash),
			PKCSHashAl: get(colPKCSHashAlg),
		})
	}
	if err := rows.Err(); err != nil {
		return nil, corrupt(err)
	}
	return objs, nil
}

// sniff checks the SQLite header of a cert9.db before SQLite sees it, so
// an empty or foreign file gets a precise error (SQLite would treat an
// empty file as an empty database).
func sniff(data []byte, where string) error {
	switch {
	case len(data) == 0:
		return fmt.Errorf("%s: %w: the file is empty (truncated?); restore it from a backup or recreate it with certutil -N -d sql:DIR --empty-password", where, ErrNotNSSDB)
	case len(data) < 100 || !bytes.Equal(data[:len(sqliteMagic)], sqliteMagic):
		return fmt.Errorf("%s: %w: no SQLite header (truncated or overwritten?); restore it from a backup or recreate it with certutil -N -d sql:DIR --empty-password", where, ErrNotNSSDB)
	}
	// The page count in the header times the page size must fit the file;
	// a shorter file was truncated. (Header bytes 16-17 page size, 1 meaning
	// 65536; bytes 28-31 the in-header database size in pages.)
	pageSize := int64(data[16])<<8 | int64(data[17])
	if pageSize == 1 {
		pageSize = 65536
	}
	pages := int64(data[28])<<24 | int64(data[29])<<16 | int64(data[30])<<8 | int64(data[31])
	if pageSize >= 512 && pages > 0 && int64(len(data)) < pageSize*pages {
		return fmt.Errorf("%s: %w: the header says %d pages of %d bytes but the file has %d bytes (truncated); restore it from a backup", where, ErrNotNSSDB, pages, pageSize, len(data))
	}
	return nil
}

// object is one row of nssPublic, reduced to the attributes we read.
type object struct {
	ID                                          uint32 // row id: the NSS object id the MACs name
	Class, Label, Value, Issuer, Serial         []byte
	NSSServer, NSSClient, NSSCode, NSSEmail     []byte
	NSSSHA1                                     []byte
	PKCSServer, PKCSClient, PKCSCode, PKCSEmail []byte
	PKCSHash, PKCSHashAl                        []byte
}

// trustKey identifies the certificate a trust object applies to: NSS
// (and PKCS#11 3.2) look trust up by issuer and serial number.
func trustKey(issuer, serial []byte) string {
	return fmt.Sprintf("%d:%x:%x", len(issuer), issuer, serial)
}

// trustObj is a trust object reduced to what the join needs.
type trustObj struct {
	flags  trustFlags
	sha1   []byte // legacy CKA_NSS_CERT_SHA1_HASH
	hash   []byte // CKA_HASH_OF_CERTIFICATE
	hashAl uint32 // CKA_NAME_HASH_ALGORITHM; 0 = absent (SHA-1 default)
	legacy bool
	// issuer and serial name the certificate the object applies to.
	issuer, serial []byte
}

// trustOf turns a trust row into a trustObj, keeping only the attributes
// whose MAC verifies (mac.verified). A row whose certificate hash fails
// its MAC is dropped: NSS cannot tie it to a certificate.
func trustOf(o object, class uint32, mac *macCheck) (trustObj, bool) {
	attr := func(typ uint32, v []byte) []byte {
		if v == nil || !mac.verified(o.ID, typ, attrBytes(v)) {
			return nil
		}
		return v
	}
	if class == ckoNSSTrust {
		if o.NSSSHA1 != nil && attr(ckaNSSCertSHA1, o.NSSSHA1) == nil {
			return trustObj{}, false
		}
		return trustObj{
			flags: legacyTrust(attr(ckaNSSTrustServerAuth, o.NSSServer), attr(ckaNSSTrustClientAuth, o.NSSClient),
				attr(ckaNSSTrustEmail, o.NSSEmail), attr(ckaNSSTrustCodeSigning, o.NSSCode)),
			sha1:   attrBytes(o.NSSSHA1),
			legacy: true,
		}, true
	}
	if (o.PKCSHash != nil && attr(ckaHashOfCertificate, o.PKCSHash) == nil) ||
		(o.PKCSHashAl != nil && attr(ckaNameHashAlgorithm, o.PKCSHashAl) == nil) {
		return trustObj{}, false
	}
	t := trustObj{hash: attrBytes(o.PKCSHash)}
	t.flags = pkcsTrust(attr(ckaTrustServerAuth, o.PKCSServer), attr(ckaTrustClientAuth, o.PKCSClient),
		attr(ckaTrustEmail, o.PKCSEmail), attr(ckaTrustCodeSigning, o.PKCSCode))
	if v, ok := decodeULong(o.PKCSHashAl); ok {
		t.hashAl = v
	}
	return t, true
}

// matches reports whether a trust object's certificate hash (if it has
// one) is that of the certificate, as NSS checks before using it.
func (t trustObj) matches(sha1sum, sha256sum []byte) bool {
	if t.legacy {
		return len(t.sha1) == 0 || bytes.Equal(t.sha1, sha1sum)
	}
	if len(t.hash) == 0 {
		return true
	}
	switch t.hashAl {
	case ckmSHA256:
		return bytes.Equal(t.hash, sha256sum)
	case 0, ckmSHA1:
		return bytes.Equal(t.hash, sha1sum)
	}
	return true
}

// buildEntries joins certificate objects with their trust objects. A
// trust object whose certificate hash does not match the certificate is
// ignored, as NSS ignores it; so are trust attributes whose MAC does not
// verify. Trust objects no certificate claims come last, as entries
// without a certificate (orphans).
func buildEntries(objs []object, mac *macCheck) ([]entry, error) {
	trust := map[string][]trustObj{}
	var keys []string // trust keys in database order
	var certs []object
	for _, o := range objs {
		class, err := checkClass(o.Class)
		if err != nil {
			continue // not an object we read (or damaged); NSS skips it too
		}
		switch class {
		case ckoCertificate:
			certs = append(certs, o)
		case ckoNSSTrust, ckoTrust:
			if t, ok := trustOf(o, class, mac); ok {
				t.issuer, t.serial = attrBytes(o.Issuer), attrBytes(o.Serial)
				k := trustKey(t.issuer, t.serial)
				if _, seen := trust[k]; !seen {
					keys = append(keys, k)
				}
				trust[k] = append(trust[k], t)
			}
		}
	}
	out := make([]entry, 0, len(certs))
	claimed := map[*trustObj]bool{}
	for _, o := range certs {
		der := attrBytes(o.Value)
		if len(der) == 0 {
			continue
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			// Go refuses some certificates NSS accepts (negative serial
			// numbers, for one). They cannot be one of ours; skip them
			// rather than fail the whole store.
			continue
		}
		sum := sha256.Sum256(der)
		sha1sum := sha1.Sum(der)
		e := entry{Cert: c, DER: der, SHA256: hex.EncodeToString(sum[:]), Label: string(attrBytes(o.Label))}
		issuer, serial := attrBytes(o.Issuer), attrBytes(o.Serial)
		if len(issuer) == 0 {
			issuer = c.RawIssuer
		}
		ts := trust[trustKey(issuer, serial)]
		for i := range ts {
			if !ts[i].matches(sha1sum[:], sum[:]) {
				continue
			}
			claimed[&ts[i]] = true
			e.addTrust(ts[i])
		}
		out = append(out, e)
	}
	return append(out, orphans(trust, keys, claimed)...), nil
}

// addTrust records one trust object of e. Two objects of one kind (not
// something NSS writes) merge with distrust winning.
func (e *entry) addTrust(t trustObj) {
	if t.legacy {
		e.Legacy = mergeTrust(e.Legacy, t.flags, e.HasLegacy)
		e.HasLegacy = true
		return
	}
	e.PKCS = mergeTrust(e.PKCS, t.flags, e.HasPKCS)
	e.HasPKCS = true
}

// orphans returns the trust objects no certificate claimed, one entry per
// certificate they name. A CKO_TRUST object hashed with SHA-256 (what NSS
// >= 3.114 writes) names the certificate's fingerprint.
func orphans(trust map[string][]trustObj, keys []string, claimed map[*trustObj]bool) []entry {
	var out []entry
	for _, k := range keys {
		ts := trust[k]
		var e entry
		for i := range ts {
			t := ts[i]
			if claimed[&ts[i]] {
				continue
			}
			e.Issuer, e.Serial = t.issuer, t.serial
			if !t.legacy && t.hashAl == ckmSHA256 && len(t.hash) == sha256.Size {
				e.SHA256 = hex.EncodeToString(t.hash)
			}
			e.addTrust(t)
		}
		if e.HasLegacy || e.HasPKCS {
			out = append(out, e)
		}
	}
	return out
}

// mergeTrust combines two trust objects of one kind for one certificate.
// Distrust wins over trust, trust over nothing.
func mergeTrust(have, add trustFlags, haveAny bool) trustFlags {
	if !haveAny {
		return add
	}
	pick := func(a, b string) string {
		switch {
		case strings.Contains(a, "p") || strings.Contains(b, "p"):
			return "p"
		case len(b) > len(a):
			return b
		}
		return a
	}
	return trustFlags{SSL: pick(have.SSL, add.SSL), Email: pick(have.Email, add.Email), ObjSign: pick(have.ObjSign, add.ObjSign)}
}
