package java

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"unicode/utf16"
)

// The crypto of PKCS#12 (RFC 7292) that Java keystores use: the
// password-based MAC (HMAC with the PKCS#12 KDF, or PBMAC1) and the
// encryption of certificate SafeContents (PBES2 with AES or 3DES, or the
// PKCS#12 3DES scheme). RC2-40, used only by JDK 8 before 8u301, is left to
// go-pkcs12 (see decodePKCS12).

// maxIterations bounds KDF iteration counts read from a file, so a hostile
// keystore cannot make an audit spin. JDKs use 10,000; OpenSSL 2,048.
const maxIterations = 1 << 20

var (
	oidSHA1       = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA224     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}
	oidSHA256     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA224 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBMAC1     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
	oidPBE3DES    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}
	oidPBERC2_40  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 6}
	oidPBERC2_128 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 5}
)

var errRC2 = errors.New("RC2-encrypted certificates")

func digestHash(oid asn1.ObjectIdentifier) func() hash.Hash {
	switch {
	case oid.Equal(oidSHA1), oid.Equal(oidHMACSHA1):
		return sha1.New
	case oid.Equal(oidSHA224), oid.Equal(oidHMACSHA224):
		return sha256.New224
	case oid.Equal(oidSHA256), oid.Equal(oidHMACSHA256):
		return sha256.New
	case oid.Equal(oidSHA384), oid.Equal(oidHMACSHA384):
		return sha512.New384
	case oid.Equal(oidSHA512), oid.Equal(oidHMACSHA512):
		return sha512.New
	}
	return nil
}

// bmpPassword is the PKCS#12 password encoding: UTF-16BE plus a 16-bit
// zero terminator ("" is 00 00).
func bmpPassword(s string) []byte {
	u := utf16.Encode([]rune(s))
	out := make([]byte, 0, 2*len(u)+2)
	for _, c := range u {
		out = append(out, byte(c>>8), byte(c))
	}
	return append(out, 0, 0)
}

// pkcs12KDF is the key derivation of RFC 7292 appendix B.2.
func pkcs12KDF(newHash func() hash.Hash, password, salt []byte, id byte, iterations, size int) []byte {
	h := newHash()
	v := h.BlockSize()
	fill := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		out := make([]byte, v*((len(b)+v-1)/v))
		for i := range out {
			out[i] = b[i%len(b)]
		}
		return out
	}
	d := make([]byte, v)
	for i := range d {
		d[i] = id
	}
	I := append(fill(salt), fill(password)...)
	var out []byte
	for len(out) < size {
		h.Reset()
		h.Write(d)
		h.Write(I)
		a := h.Sum(nil)
		for j := 1; j < iterations; j++ {
			h.Reset()
			h.Write(a)
			a = h.Sum(a[:0])
		}
		out = append(out, a...)
		if len(out) >= size {
			break
		}
		b := fill(a)
		for j := 0; j+v <= len(I); j += v {
			carry := 1
			for k := v - 1; k >= 0; k-- {
				s := int(I[j+k]) + int(b[k]) + carry
				I[j+k] = byte(s)
				carry = s >> 8
			}
		}
	}
	return out[:size]
}

type macData struct {
	Mac        digestInfo
	MacSalt    []byte
	Iterations int `asn1:"optional,default:1"`
}

type digestInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Digest    []byte
}

type pbkdf2Params struct {
	Salt       asn1.RawValue
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	Prf        pkix.AlgorithmIdentifier `asn1:"optional"`
}

type pbmac1Params struct {
	Kdf    pkix.AlgorithmIdentifier
	MacAlg pkix.AlgorithmIdentifier
}

// verifyMAC reports whether password opens md over content. A malformed
// or unsupported MAC is an error.
func verifyMAC(md *macData, content []byte, password string) (bool, error) {
	alg := md.Mac.Algorithm.Algorithm
	var mac []byte
	if alg.Equal(oidPBMAC1) {
		var p pbmac1Params
		if err := unmarshalAll(md.Mac.Algorithm.Parameters.FullBytes, &p); err != nil {
			return false, fmt.Errorf("PBMAC1 parameters: %w", err)
		}
		key, err := pbkdf2Key(p.Kdf, []byte(password))
		if err != nil {
			return false, err
		}
		h := digestHash(p.MacAlg.Algorithm)
		if h == nil {
			return false, fmt.Errorf("unsupported PBMAC1 MAC %v", p.MacAlg.Algorithm)
		}
		m := hmac.New(h, key)
		m.Write(content)
		mac = m.Sum(nil)
	} else {
		h := digestHash(alg)
		if h == nil {
			return false, fmt.Errorf("unsupported MAC algorithm %v", alg)
		}
		if md.Iterations < 1 || md.Iterations > maxIterations {
			return false, fmt.Errorf("MAC iteration count %d out of range", md.Iterations)
		}
		key := pkcs12KDF(h, bmpPassword(password), md.MacSalt, 3, md.Iterations, h().Size())
		m := hmac.New(h, key)
		m.Write(content)
		mac = m.Sum(nil)
		if subtle.ConstantTimeCompare(mac, md.Mac.Digest) != 1 && password == "" {
			// some writers key the MAC of an empty password with no
			// bytes at all rather than the 00 00 terminator
			key = pkcs12KDF(h, nil, md.MacSalt, 3, md.Iterations, h().Size())
			m = hmac.New(h, key)
			m.Write(content)
			mac = m.Sum(nil)
		}
	}
	return subtle.ConstantTimeCompare(mac, md.Mac.Digest) == 1, nil
}

func pbkdf2Key(kdf pkix.AlgorithmIdentifier, password []byte) ([]byte, error) {
	if !kdf.Algorithm.Equal(oidPBKDF2) {
		return nil, fmt.Errorf("unsupported key derivation %v", kdf.Algorithm)
	}
	var p pbkdf2Params
	if err := unmarshalAll(kdf.Parameters.FullBytes, &p); err != nil {
		return nil, fmt.Errorf("PBKDF2 parameters: %w", err)
	}
	var salt []byte
	if _, err := asn1.Unmarshal(p.Salt.FullBytes, &salt); err != nil {
		return nil, fmt.Errorf("PBKDF2 salt: %w", err)
	}
	if p.Iterations < 1 || p.Iterations > maxIterations {
		return nil, fmt.Errorf("PBKDF2 iteration count %d out of range", p.Iterations)
	}
	prf := sha1.New
	if len(p.Prf.Algorithm) > 0 {
		if prf = digestHash(p.Prf.Algorithm); prf == nil {
			return nil, fmt.Errorf("unsupported PBKDF2 PRF %v", p.Prf.Algorithm)
		}
	}
	n := p.KeyLength
	if n <= 0 || n > 64 {
		n = 32
	}
	return pbkdf2.Key(prf, string(password), salt, p.Iterations, n)
}

type pbeParams struct {
	Salt       []byte
	Iterations int
}

type pbes2Params struct {
	Kdf              pkix.AlgorithmIdentifier
	EncryptionScheme pkix.AlgorithmIdentifier
}

// decryptContent decrypts the encrypted SafeContents of a PKCS#12 file.
// Long: one case per encryption scheme keytool writes (PBES2 with its
// KDF and cipher parameters, the legacy PBE ones), each a few lines.
func decryptContent(alg pkix.AlgorithmIdentifier, data []byte, password string) ([]byte, error) {
	var (
		block cipher.Block
		iv    []byte
	)
	switch {
	case alg.Algorithm.Equal(oidPBES2):
		var p pbes2Params
		if err := unmarshalAll(alg.Parameters.FullBytes, &p); err != nil {
			return nil, fmt.Errorf("PBES2 parameters: %w", err)
		}
		if err := unmarshalAll(p.EncryptionScheme.Parameters.FullBytes, &iv); err != nil {
			return nil, fmt.Errorf("PBES2 IV: %w", err)
		}
		var keyLen int
		es := p.EncryptionScheme.Algorithm
		switch {
		case es.Equal(oidAES128CBC):
			keyLen = 16
		case es.Equal(oidAES192CBC):
			keyLen = 24
		case es.Equal(oidAES256CBC):
			keyLen = 32
		case es.Equal(oidDESEDE3CBC):
			keyLen = 24
		default:
			return nil, fmt.Errorf("unsupported PBES2 cipher %v", es)
		}
		kdf := p.Kdf
		// the key length comes from the cipher, not from the optional
		// PBKDF2 field
		var pp pbkdf2Params
		if err := unmarshalAll(kdf.Parameters.FullBytes, &pp); err == nil {
			pp.KeyLength = keyLen
			if b, err := asn1.Marshal(pp); err == nil {
				kdf.Parameters.FullBytes = b
			}
		}
		key, err := pbkdf2Key(kdf, []byte(password))
		if err != nil {
			return nil, err
		}
		if len(key) != keyLen {
			return nil, errors.New("PBES2: bad derived key length")
		}
		if es.Equal(oidDESEDE3CBC) {
			block, err = des.NewTripleDESCipher(key)
		} else {
			block, err = aes.NewCipher(key)
		}
		if err != nil {
			return nil, err
		}
	case alg.Algorithm.Equal(oidPBE3DES):
		var p pbeParams
		if err := unmarshalAll(alg.Parameters.FullBytes, &p); err != nil {
			return nil, fmt.Errorf("PBE parameters: %w", err)
		}
		if p.Iterations < 1 || p.Iterations > maxIterations {
			return nil, fmt.Errorf("PBE iteration count %d out of range", p.Iterations)
		}
		pw := bmpPassword(password)
		key := pkcs12KDF(sha1.New, pw, p.Salt, 1, p.Iterations, 24)
		iv = pkcs12KDF(sha1.New, pw, p.Salt, 2, p.Iterations, 8)
		var err error
		if block, err = des.NewTripleDESCipher(key); err != nil {
			return nil, err
		}
	case alg.Algorithm.Equal(oidPBERC2_40), alg.Algorithm.Equal(oidPBERC2_128):
		return nil, errRC2
	default:
		return nil, fmt.Errorf("unsupported encryption %v", alg.Algorithm)
	}
	bs := block.BlockSize()
	if len(iv) != bs {
		return nil, errors.New("bad IV length")
	}
	if len(data) == 0 || len(data)%bs != 0 {
		return nil, errors.New("encrypted content is not a whole number of blocks")
	}
	out := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, data)
	pad := int(out[len(out)-1])
	if pad == 0 || pad > bs {
		return nil, errBadPadding
	}
	for _, b := range out[len(out)-pad:] {
		if int(b) != pad {
			return nil, errBadPadding
		}
	}
	return out[:len(out)-pad], nil
}

var errBadPadding = errors.New("decryption failed (bad padding)")

// unmarshalAll is asn1.Unmarshal that refuses trailing data.
func unmarshalAll(b []byte, v any) error {
	rest, err := asn1.Unmarshal(b, v)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return errors.New("trailing data")
	}
	return nil
}
