package nss

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"database/sql"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// How NSS authenticates trust, as read in NSS's softoken (sftkdb.c,
// sftkpwd.c); nothing here is NSS code.
//
// Trust attributes of cert9.db (server auth, the certificate hash, …) are
// authenticated with an HMAC kept in key4.db's metaData table under the
// id "sig_cert_<object id, 8 hex>_<attribute type, 8 hex>". Its value is a
// PKCS#5 PBMAC1: PBKDF2 (salt, iterations, key length, PRF) turns the
// database's password key into an HMAC key, and the HMAC covers the
// object id and attribute type (4 bytes big-endian each) followed by the
// attribute's value as stored. The password key is SHA-1 (SHA-384 for a
// 48-byte salt) of the global salt — item1 of the "password" metaData
// entry — followed by the password.
//
// NSS checks these MACs only while the token is logged in. A database
// with the empty password is logged in as soon as it opens: softoken
// tries the empty password when the "password" entry's encryption uses
// one iteration. So a browser profile without a primary password ignores
// every trust attribute whose MAC is missing or wrong — which is what a
// user gets by copying a fresh key4.db over theirs. With a primary
// password the MACs are checked only after the user types it; before,
// NSS uses the trust as stored, and so do we. Without a key4.db at all,
// the application that opens the profile creates a fresh one and no MAC
// verifies.

// macMode says how NSS treats the trust MACs of one database.
type macMode int

const (
	macUnchecked macMode = iota // no metaData, no password entry, or a primary password: used as stored
	macChecked                  // the empty password logs in: every MAC is checked
	macNoKeyDB                  // no key4.db: a fresh one is made, no MAC verifies
)

// maxMACIterations bounds the PBKDF2 work one signature may ask for (NSS
// signs with 1 iteration under the empty password, 10,000 otherwise);
// more is treated as a signature that does not verify.
const maxMACIterations = 1 << 17

// macCheck verifies trust attributes the way NSS would for one database.
// A nil *macCheck accepts everything (macUnchecked).
type macCheck struct {
	mode    macMode
	passKey []byte
	sigs    map[string][]byte
}

// verified reports whether NSS would accept the value of attribute typ
// of object id.
func (m *macCheck) verified(id, typ uint32, value []byte) bool {
	if m == nil || m.mode == macUnchecked {
		return true
	}
	if m.mode == macNoKeyDB {
		return false
	}
	if nullTrust(typ, value) {
		return true // NSS does not authenticate a trust value of "unknown"
	}
	sig, ok := m.sigs[sigID(id, typ)]
	return ok && verifyPBMAC1(sig, m.passKey, id, typ, value)
}

func sigID(id, typ uint32) string { return fmt.Sprintf("sig_cert_%08x_%08x", id, typ) }

// nullTrust mirrors sftkdb_isNullTrust: a trust attribute saying
// "unknown" carries no MAC.
func nullTrust(typ uint32, value []byte) bool {
	v, ok := decodeULong(value)
	if !ok {
		return false
	}
	switch typ {
	case ckaNSSTrustServerAuth, ckaNSSTrustClientAuth, ckaNSSTrustEmail, ckaNSSTrustCodeSigning:
		return v == cktNSSTrustUnknown
	case ckaTrustServerAuth, ckaTrustClientAuth, ckaTrustCodeSigning, ckaTrustEmail:
		return v == cktTrustUnknown
	}
	return false
}

// readKeyDB reads the MAC material of a key4.db given as bytes (nil:
// there is none).
func readKeyDB(ctx context.Context, data []byte) (*macCheck, error) {
	if data == nil {
		return &macCheck{mode: macNoKeyDB}, nil
	}
	if err := sniff(data, "key4.db"); err != nil {
		return nil, err
	}
	m := &macCheck{mode: macUnchecked, sigs: map[string][]byte{}}
	var salt, check []byte
	var havePW bool
	err := inMemory(ctx, data, func(c *sql.Conn) error {
		ok, err := isTable(ctx, c, "metaData")
		if err != nil || !ok {
			return err // no metaData table: NSS checks nothing
		}
		rows, err := c.QueryContext(ctx, "SELECT id, item1, item2 FROM metaData")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var item1, item2 []byte
			if err := rows.Scan(&id, &item1, &item2); err != nil {
				return err
			}
			switch {
			case id == "password":
				salt, check, havePW = item1, item2, true
			case strings.HasPrefix(id, "sig_cert_"):
				m.sigs[id] = item1
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	if havePW && pbeIterations(check) == 1 {
		m.mode = macChecked
		m.passKey = passwordKey(salt, "")
	}
	return m, nil
}

// passwordKey is the intermediate key of a password: SHA-1 of the global
// salt and the password, SHA-384 for a 48-byte salt.
func passwordKey(salt []byte, pw string) []byte {
	var h hash.Hash = sha1.New()
	if len(salt) == sha512.Size384 {
		h = sha512.New384()
	}
	h.Write(salt)
	h.Write([]byte(pw))
	return h.Sum(nil)
}

type algorithmID struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

// cipherValue is how NSS stores an encrypted or signed value.
type cipherValue struct {
	Algorithm algorithmID
	Value     []byte
}

type pbes2Params struct {
	KDF        algorithmID
	Encryption algorithmID
}

// pbmac1Params and pbkdf2Params are the PBMAC1 parameters (the tests
// build signatures with them).
type pbmac1Params struct {
	KDF algorithmID
	MAC algorithmID
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int
	KeyLength  int         `asn1:"optional"`
	PRF        algorithmID `asn1:"optional"`
}

// pbeParams are the parameters of the PKCS#5 v1 and PKCS#12 PBE schemes.
type pbeParams struct {
	Salt       []byte
	Iterations int
}

var (
	oidPBKDF2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidPBES2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBMAC1 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
	oidHMAC   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2} // .7 SHA-1, .8 SHA-224, .9 SHA-256, .10 SHA-384, .11 SHA-512
)

// pbeIterations returns the iteration count of an encrypted value (the
// "password" check entry), or 0 when it cannot be read.
func pbeIterations(der []byte) int {
	var cv cipherValue
	if rest, err := asn1.Unmarshal(der, &cv); err != nil || len(rest) != 0 {
		return 0
	}
	if cv.Algorithm.Algorithm.Equal(oidPBES2) {
		var p pbes2Params
		var k pbkdf2Params
		if _, err := asn1.Unmarshal(cv.Algorithm.Parameters.FullBytes, &p); err != nil || !p.KDF.Algorithm.Equal(oidPBKDF2) {
			return 0
		}
		if _, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &k); err != nil {
			return 0
		}
		return k.Iterations
	}
	var p pbeParams
	if _, err := asn1.Unmarshal(cv.Algorithm.Parameters.FullBytes, &p); err != nil {
		return 0
	}
	return p.Iterations
}

// hmacHash returns the hash of an HMAC algorithm identifier.
func hmacHash(oid asn1.ObjectIdentifier) (func() hash.Hash, error) {
	if len(oid) != len(oidHMAC)+1 || !oid[:len(oidHMAC)].Equal(oidHMAC) {
		return nil, fmt.Errorf("unknown MAC algorithm %v", oid)
	}
	switch oid[len(oidHMAC)] {
	case 7:
		return sha1.New, nil
	case 8:
		return sha256.New224, nil
	case 9:
		return sha256.New, nil
	case 10:
		return sha512.New384, nil
	case 11:
		return sha512.New, nil
	}
	return nil, fmt.Errorf("unknown MAC algorithm %v", oid)
}

// verifyPBMAC1 checks one stored signature of an attribute value.
func verifyPBMAC1(sig, passKey []byte, id, typ uint32, value []byte) bool {
	mac, key, err := pbmac1Key(sig, passKey)
	if err != nil {
		return false
	}
	h, want := mac.h, mac.value
	m := hmac.New(h, key)
	var addr [8]byte
	binary.BigEndian.PutUint32(addr[:4], id)
	binary.BigEndian.PutUint32(addr[4:], typ)
	m.Write(addr[:])
	m.Write(value)
	return hmac.Equal(m.Sum(nil), want)
}

type storedMAC struct {
	h     func() hash.Hash
	value []byte
}

// pbmac1Key parses a PBMAC1 signature (cryptobyte: the agent checks
// hundreds per read, and reflection-based encoding/asn1 would dominate
// the time) and derives its HMAC key.
//
//	SEQUENCE { SEQUENCE { OID pbmac1, SEQUENCE {                 -- PBMAC1-params
//	    SEQUENCE { OID pbkdf2, SEQUENCE { OCTET STRING salt, INTEGER iterations,
//	                                      [INTEGER keyLength], [SEQUENCE prf] } },
//	    SEQUENCE { OID hmac, [params] } } },
//	  OCTET STRING mac }
func pbmac1Key(sig, passKey []byte) (storedMAC, []byte, error) {
	bad := errors.New("signature is not a PBMAC1 structure")
	in := cryptobyte.String(sig)
	var outer, alg, params, kdf, kdfParams, macAlg cryptobyte.String
	var oid, kdfOID, macOID asn1.ObjectIdentifier
	var mac, salt []byte
	if !in.ReadASN1(&outer, cbasn1.SEQUENCE) || !in.Empty() ||
		!outer.ReadASN1(&alg, cbasn1.SEQUENCE) || !outer.ReadASN1Bytes(&mac, cbasn1.OCTET_STRING) || !outer.Empty() ||
		!alg.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(oidPBMAC1) || !alg.ReadASN1(&params, cbasn1.SEQUENCE) ||
		!params.ReadASN1(&kdf, cbasn1.SEQUENCE) || !params.ReadASN1(&macAlg, cbasn1.SEQUENCE) ||
		!kdf.ReadASN1ObjectIdentifier(&kdfOID) || !kdfOID.Equal(oidPBKDF2) || !kdf.ReadASN1(&kdfParams, cbasn1.SEQUENCE) ||
		!macAlg.ReadASN1ObjectIdentifier(&macOID) {
		return storedMAC{}, nil, bad
	}
	var iter, keyLen int
	if !kdfParams.ReadASN1Bytes(&salt, cbasn1.OCTET_STRING) || !kdfParams.ReadASN1Integer(&iter) ||
		(kdfParams.PeekASN1Tag(cbasn1.INTEGER) && !kdfParams.ReadASN1Integer(&keyLen)) {
		return storedMAC{}, nil, bad
	}
	macHash, err := hmacHash(macOID)
	if err != nil {
		return storedMAC{}, nil, err
	}
	prf := sha1.New
	if !kdfParams.Empty() {
		var prfAlg cryptobyte.String
		var prfOID asn1.ObjectIdentifier
		if !kdfParams.ReadASN1(&prfAlg, cbasn1.SEQUENCE) || !prfAlg.ReadASN1ObjectIdentifier(&prfOID) {
			return storedMAC{}, nil, bad
		}
		if prf, err = hmacHash(prfOID); err != nil {
			return storedMAC{}, nil, err
		}
	}
	if keyLen == 0 {
		keyLen = macHash().Size()
	}
	if iter < 1 || iter > maxMACIterations || keyLen < 1 || keyLen > 64 || len(salt) > 1024 {
		return storedMAC{}, nil, errors.New("PBKDF2 parameters out of range")
	}
	key, err := pbkdf2.Key(prf, string(passKey), salt, iter, keyLen)
	if err != nil {
		return storedMAC{}, nil, err
	}
	return storedMAC{h: macHash, value: mac}, key, nil
}
