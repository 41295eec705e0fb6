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
	"io"
	"net/url"
	"os"
	"strings"

	_ "modernc.org/sqlite" // pure-Go SQLite driver, registered as "sqlite"
)

// entry is one certificate object of a cert9.db with the trust NSS would
// find for it.
type entry struct {
	Cert     *x509.Certificate
	DER      []byte
	SHA256   string
	Label    string     // CKA_LABEL: the nickname certutil -L shows
	Trust    trustFlags // zero when HasTrust is false
	HasTrust bool       // a trust object matched the certificate
}

// trusted reports whether NSS trusts the certificate as a CA for TLS
// server authentication.
func (e entry) trusted() bool { return e.HasTrust && e.Trust.serverAuthAnchor() }

// sqliteMagic starts every SQLite 3 database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// ErrNotNSSDB is returned (wrapped) for a cert9.db that is not an NSS
// certificate database: not SQLite, truncated, or without nssPublic.
var ErrNotNSSDB = errors.New("not an NSS cert9.db")

// readDB reads every certificate and trust object of the cert9.db at hp
// (a host path). It opens the file read-only through SQLite, so a
// concurrent writer (Firefox keeps the database open) is respected
// through SQLite's locks, and runs one query.
func readDB(ctx context.Context, hp string) ([]entry, error) {
	if err := sniff(hp); err != nil {
		return nil, err
	}
	// mode=ro: never create, never write. immutable=1 is not used: Firefox
	// or certutil may be writing the file, and immutable would let us read
	// a half-committed page set instead of waiting on the lock.
	dsn := (&url.URL{Scheme: "file", OmitHost: true, Path: hp, RawQuery: "mode=ro&_pragma=busy_timeout(2000)"}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", hp, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	rows, err := db.QueryContext(ctx, "SELECT * FROM "+nssPublicTable)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil, fmt.Errorf("%s: %w: it has no %s table", hp, ErrNotNSSDB, nssPublicTable)
		}
		return nil, fmt.Errorf("%s: read: %w (is the file corrupt? certutil -L -d sql:%s shows what NSS makes of it)", hp, err, dirOf(hp))
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w", hp, err)
	}
	idx := map[string]int{}
	for i, c := range cols {
		idx[strings.ToLower(c)] = i
	}
	if _, ok := idx[colClass]; !ok {
		return nil, fmt.Errorf("%s: %w: %s has no class column %s", hp, ErrNotNSSDB, nssPublicTable, colClass)
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
			return nil, fmt.Errorf("%s: read: %w", hp, err)
		}
		objs = append(objs, object{
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
			PKCSHash:   get(colPKCSCertHash),
			PKCSHashAl: get(colPKCSHashAlg),
		})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: read: %w (is the file corrupt? certutil -L -d sql:%s shows what NSS makes of it)", hp, err, dirOf(hp))
	}
	return buildEntries(objs)
}

// sniff checks that hp is a regular SQLite file before SQLite sees it, so
// an empty or foreign file gets a precise error (SQLite would treat an
// empty file as an empty database).
func sniff(hp string) error {
	f, err := os.Open(hp)
	if err != nil {
		return fmt.Errorf("open NSS database: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open NSS database: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w: not a regular file", hp, ErrNotNSSDB)
	}
	head := make([]byte, 100) // the SQLite header
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s: %w", hp, err)
	}
	switch {
	case n == 0:
		return fmt.Errorf("%s: %w: the file is empty (truncated?); restore it from a backup or recreate it with certutil -N -d sql:%s --empty-password", hp, ErrNotNSSDB, dirOf(hp))
	case n < len(head) || !bytes.Equal(head[:len(sqliteMagic)], sqliteMagic):
		return fmt.Errorf("%s: %w: no SQLite header (truncated or overwritten?); restore it from a backup or recreate it with certutil -N -d sql:%s --empty-password", hp, ErrNotNSSDB, dirOf(hp))
	}
	// The page count in the header times the page size must fit the file;
	// a shorter file was truncated. (Header bytes 16-17 page size, 1 meaning
	// 65536; bytes 28-31 the in-header database size in pages.)
	pageSize := int64(head[16])<<8 | int64(head[17])
	if pageSize == 1 {
		pageSize = 65536
	}
	pages := int64(head[28])<<24 | int64(head[29])<<16 | int64(head[30])<<8 | int64(head[31])
	if pageSize >= 512 && pages > 0 && fi.Size() < pageSize*pages {
		return fmt.Errorf("%s: %w: the header says %d pages of %d bytes but the file has %d bytes (truncated); restore it from a backup", hp, ErrNotNSSDB, pages, pageSize, fi.Size())
	}
	return nil
}

func dirOf(hp string) string {
	if i := strings.LastIndexAny(hp, `/\`); i > 0 {
		return hp[:i]
	}
	return "."
}

// object is one row of nssPublic, reduced to the attributes we read.
type object struct {
	Class, Label, Value, Issuer, Serial     []byte
	NSSServer, NSSClient, NSSCode, NSSEmail []byte
	NSSSHA1                                 []byte
	PKCSServer, PKCSHash, PKCSHashAl        []byte
}

// trustKey identifies the certificate a trust object applies to: NSS
// (and PKCS#11 3.2) look trust up by issuer and serial number.
func trustKey(issuer, serial []byte) string {
	return fmt.Sprintf("%d:%x:%x", len(issuer), issuer, serial)
}

// buildEntries joins certificate objects with their trust objects. A
// trust object whose certificate hash does not match the certificate is
// ignored, as NSS ignores it.
func buildEntries(objs []object) ([]entry, error) {
	type trustObj struct {
		flags  trustFlags
		sha1   []byte // legacy CKA_NSS_CERT_SHA1_HASH
		hash   []byte // CKA_HASH_OF_CERTIFICATE
		hashAl uint32 // CKA_NAME_HASH_ALGORITHM; 0 = absent (SHA-1 default)
		legacy bool
	}
	trust := map[string][]trustObj{}
	var certs []object
	for _, o := range objs {
		class, err := checkClass(o.Class)
		if err != nil {
			continue // not an object we read (or damaged); NSS skips it too
		}
		switch class {
		case ckoCertificate:
			certs = append(certs, o)
		case ckoNSSTrust:
			k := trustKey(attrBytes(o.Issuer), attrBytes(o.Serial))
			trust[k] = append(trust[k], trustObj{
				flags:  legacyTrust(o.NSSServer, o.NSSClient, o.NSSEmail, o.NSSCode),
				sha1:   attrBytes(o.NSSSHA1),
				legacy: true,
			})
		case ckoTrust:
			t := trustObj{hash: attrBytes(o.PKCSHash)}
			if v, ok := decodeULong(o.PKCSServer); ok {
				t.flags.SSL = pkcsTrustLetter(v)
			}
			if v, ok := decodeULong(o.PKCSHashAl); ok {
				t.hashAl = v
			}
			k := trustKey(attrBytes(o.Issuer), attrBytes(o.Serial))
			trust[k] = append(trust[k], t)
		}
	}
	out := make([]entry, 0, len(certs))
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
		e := entry{Cert: c, DER: der, SHA256: hex.EncodeToString(sum[:]), Label: string(attrBytes(o.Label))}
		sha1sum := sha1.Sum(der)
		issuer, serial := attrBytes(o.Issuer), attrBytes(o.Serial)
		if len(issuer) == 0 {
			issuer = c.RawIssuer
		}
		for _, t := range trust[trustKey(issuer, serial)] {
			if t.legacy && len(t.sha1) > 0 && !bytes.Equal(t.sha1, sha1sum[:]) {
				continue
			}
			if !t.legacy && len(t.hash) > 0 {
				var want []byte
				switch t.hashAl {
				case ckmSHA256:
					want = sum[:]
				case 0, ckmSHA1:
					want = sha1sum[:]
				}
				if want != nil && !bytes.Equal(t.hash, want) {
					continue
				}
			}
			e.Trust = mergeTrust(e.Trust, t.flags, e.HasTrust)
			e.HasTrust = true
		}
		out = append(out, e)
	}
	return out, nil
}

// mergeTrust combines two trust objects for one certificate (a database
// migrated to PKCS#11 3.2 trust may hold both kinds). Distrust wins over
// trust, trust over nothing.
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
