package pkcs11

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// Config names the module, the token and the key.
type Config struct {
	// Module is the absolute path of the PKCS#11 module (.so).
	Module string
	// Token is the token label (as `pkcs11-tool --list-slots` shows it).
	Token string
	// KeyLabel is the CKA_LABEL of the private key.
	KeyLabel string
	// PIN is the user PIN (see ReadPIN). It is never part of an error.
	PIN string
}

// Errors Open and Sign wrap, for errors.Is.
var (
	ErrUnsupported    = errors.New("PKCS#11 signing is not in this build")
	ErrModule         = errors.New("PKCS#11 module refused")
	ErrTokenNotFound  = errors.New("PKCS#11 token not found")
	ErrKeyNotFound    = errors.New("PKCS#11 key not found")
	ErrPINIncorrect   = errors.New("PKCS#11 PIN incorrect")
	ErrPINLocked      = errors.New("PKCS#11 PIN locked")
	ErrKeyMismatch    = errors.New("PKCS#11 key does not belong to the certificate")
	ErrTokenOperation = errors.New("PKCS#11 operation failed")
)

// PKCS#11 constants used here (PKCS#11 v2.40 / pkcs11.h).
const (
	ckoPrivateKey = 3
	ckkRSA        = 0
	ckkEC         = 3
	ckaClass      = 0x0
	ckaLabel      = 0x3
	ckaKeyType    = 0x100
	ckmRSAPKCS    = 0x1
	ckmECDSA      = 0x1041
	ckuUser       = 1
	ckfRWSession  = 0x2
	ckfSerial     = 0x4

	ckrOK                  = 0x0
	ckrPINIncorrect        = 0xa0
	ckrPINInvalid          = 0xa1
	ckrPINLenRange         = 0xa2
	ckrPINExpired          = 0xa3
	ckrPINLocked           = 0xa4
	ckrUserAlreadyLoggedIn = 0x100
	ckrBufferTooSmall      = 0x150
	ckrAlreadyInitialized  = 0x191
)

// rvNames names the return values an administrator is likely to meet.
var rvNames = map[uint64]string{
	0x1: "CKR_CANCEL", 0x2: "CKR_HOST_MEMORY", 0x3: "CKR_SLOT_ID_INVALID", 0x5: "CKR_GENERAL_ERROR", 0x6: "CKR_FUNCTION_FAILED",
	0x7: "CKR_ARGUMENTS_BAD", 0x21: "CKR_DATA_LEN_RANGE", 0x30: "CKR_DEVICE_ERROR", 0x31: "CKR_DEVICE_MEMORY", 0x32: "CKR_DEVICE_REMOVED",
	0x63: "CKR_KEY_TYPE_INCONSISTENT", 0x68: "CKR_KEY_FUNCTION_NOT_PERMITTED", 0x70: "CKR_MECHANISM_INVALID", 0x82: "CKR_OBJECT_HANDLE_INVALID",
	ckrPINIncorrect: "CKR_PIN_INCORRECT", ckrPINInvalid: "CKR_PIN_INVALID", ckrPINLenRange: "CKR_PIN_LEN_RANGE", ckrPINExpired: "CKR_PIN_EXPIRED",
	ckrPINLocked: "CKR_PIN_LOCKED", 0xb3: "CKR_SESSION_HANDLE_INVALID", 0xe0: "CKR_TOKEN_NOT_PRESENT", 0xe1: "CKR_TOKEN_NOT_RECOGNIZED",
	0x101: "CKR_USER_NOT_LOGGED_IN", 0x102: "CKR_USER_PIN_NOT_INITIALIZED", ckrBufferTooSmall: "CKR_BUFFER_TOO_SMALL",
	0x190: "CKR_CRYPTOKI_NOT_INITIALIZED", ckrAlreadyInitialized: "CKR_CRYPTOKI_ALREADY_INITIALIZED",
}

// rvError turns a CK_RV into an error wrapping the matching sentinel.
func rvError(fn string, rv uint64, cfg Config) error {
	name := rvNames[rv]
	if name == "" {
		name = fmt.Sprintf("CK_RV 0x%x", rv)
	}
	switch rv {
	case ckrPINIncorrect, ckrPINInvalid, ckrPINLenRange:
		return fmt.Errorf("%w: token %q refused the PIN (%s from %s); check the PIN file or environment variable: the token may lock after more failed attempts",
			ErrPINIncorrect, cfg.Token, name, fn)
	case ckrPINLocked, ckrPINExpired:
		return fmt.Errorf("%w: token %q: %s; unlock or reset the user PIN with the token's SO PIN", ErrPINLocked, cfg.Token, name)
	}
	return fmt.Errorf("%w: %s: %s", ErrTokenOperation, fn, name)
}

// token is an open session on a token, logged in, with the key found.
type token interface {
	// keyType is ckkRSA or ckkEC.
	keyType() uint64
	// sign runs C_SignInit + C_Sign with mechanism mech over data.
	sign(mech uint64, data []byte) ([]byte, error)
	close() error
}

// Signer is a crypto.Signer whose private key stays on the token.
type Signer struct {
	mu   sync.Mutex
	cert *x509.Certificate
	tok  token
}

// Open loads the module, logs in to the token and finds the private key
// labelled cfg.KeyLabel, which must belong to cert (checked with a test
// signature). Close the Signer when done.
func Open(cfg Config, cert *x509.Certificate) (*Signer, error) {
	if cert == nil {
		return nil, errors.New("pkcs11: the signer certificate is required")
	}
	if !supported {
		return nil, unsupported()
	}
	if cfg.Token == "" || cfg.KeyLabel == "" {
		return nil, errors.New("pkcs11: give the token label and the key label")
	}
	path, err := checkModule(cfg.Module, os.Geteuid())
	if err != nil {
		return nil, err
	}
	cfg.Module = path
	tok, err := openToken(cfg)
	if err != nil {
		return nil, err
	}
	s := &Signer{cert: cert, tok: tok}
	if err := s.check(cfg); err != nil {
		_ = tok.close()
		return nil, err
	}
	return s, nil
}

// check signs a fixed digest and verifies it with the certificate's key.
func (s *Signer) check(cfg Config) error {
	want := map[uint64]string{ckkRSA: "RSA", ckkEC: "ECDSA"}[s.tok.keyType()]
	switch s.cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if want != "RSA" {
			return fmt.Errorf("%w: key %q on token %q is %s, the certificate's key is RSA", ErrKeyMismatch, cfg.KeyLabel, cfg.Token, want)
		}
	case *ecdsa.PublicKey:
		if want != "ECDSA" {
			return fmt.Errorf("%w: key %q on token %q is %s, the certificate's key is ECDSA", ErrKeyMismatch, cfg.KeyLabel, cfg.Token, want)
		}
	default:
		return fmt.Errorf("pkcs11: the certificate's %T key is not supported: use RSA or ECDSA", s.cert.PublicKey)
	}
	digest := crypto.SHA256.New()
	digest.Write([]byte("anchorwatch: does this token key belong to the certificate?"))
	sum := digest.Sum(nil)
	sig, err := s.Sign(nil, sum, crypto.SHA256)
	if err != nil {
		return err
	}
	alg := x509.SHA256WithRSA
	if want == "ECDSA" {
		alg = x509.ECDSAWithSHA256
	}
	if err := verifyDigest(s.cert, alg, sum, sig); err != nil {
		return fmt.Errorf("%w: key %q on token %q did not make a signature the certificate %q verifies",
			ErrKeyMismatch, cfg.KeyLabel, cfg.Token, s.cert.Subject.String())
	}
	return nil
}

func verifyDigest(cert *x509.Certificate, alg x509.SignatureAlgorithm, digest, sig []byte) error {
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("%v: unsupported", alg)
}

// Public returns the certificate's public key.
func (s *Signer) Public() crypto.PublicKey { return s.cert.PublicKey }

// Sign signs a digest: RSA PKCS#1 v1.5 (opts a crypto.Hash; PSS is not
// offered) or ECDSA (ASN.1 output, as crypto/ecdsa gives).
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok == nil {
		return nil, errors.New("pkcs11: the signer is closed")
	}
	switch s.tok.keyType() {
	case ckkRSA:
		if _, pss := opts.(*rsa.PSSOptions); pss {
			return nil, errors.New("pkcs11: RSA-PSS is not supported; policies are signed with PKCS#1 v1.5")
		}
		info, err := digestInfo(opts.HashFunc(), digest)
		if err != nil {
			return nil, err
		}
		return s.tok.sign(ckmRSAPKCS, info)
	case ckkEC:
		raw, err := s.tok.sign(ckmECDSA, digest)
		if err != nil {
			return nil, err
		}
		return rawToASN1(raw)
	}
	return nil, fmt.Errorf("pkcs11: key type %d is not supported", s.tok.keyType())
}

// Close logs out and closes the session.
func (s *Signer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok == nil {
		return nil
	}
	err := s.tok.close()
	s.tok = nil
	return err
}

// digestInfoPrefixes are the DER DigestInfo headers PKCS#1 v1.5 puts
// before the digest (RFC 8017, 9.2 note 1).
var digestInfoPrefixes = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// digestInfo returns the DigestInfo of digest for CKM_RSA_PKCS.
func digestInfo(h crypto.Hash, digest []byte) ([]byte, error) {
	prefix, ok := digestInfoPrefixes[h]
	if !ok {
		return nil, fmt.Errorf("pkcs11: hash %v is not supported for RSA (use SHA-256, SHA-384 or SHA-512)", h)
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("pkcs11: digest of %d bytes for %v (want %d)", len(digest), h, h.Size())
	}
	return append(append([]byte{}, prefix...), digest...), nil
}

// rawToASN1 turns the r||s CKM_ECDSA returns into the ASN.1
// Ecdsa-Sig-Value X.509 and CMS carry.
func rawToASN1(raw []byte) ([]byte, error) {
	if len(raw) == 0 || len(raw)%2 != 0 || len(raw) > 2*66 {
		return nil, fmt.Errorf("pkcs11: ECDSA signature of %d bytes is not r||s", len(raw))
	}
	n := len(raw) / 2
	return asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:n]), new(big.Int).SetBytes(raw[n:])})
}

// checkModule resolves the module path and refuses a module anyone but
// root (or uid, the user running the signer) could have written: the file
// and every directory from it up to / must be owned by root or uid and
// not writable by group or others. It returns the resolved path, the one
// to load (so a symlink swapped later changes nothing).
func checkModule(path string, uid int) (string, error) {
	if path == "" || !filepath.IsAbs(path) {
		return "", fmt.Errorf("%w: %q: give the absolute path of the module (e.g. /usr/lib/softhsm/libsofthsm2.so)", ErrModule, path)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrModule, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrModule, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%w: %s is not a regular file", ErrModule, real)
	}
	for p := real; ; p = filepath.Dir(p) {
		if err := checkOwner(p, uid); err != nil {
			return "", fmt.Errorf("%w: %s (module %s): %v; install the module in a root-owned directory", ErrModule, p, real, err)
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	return real, nil
}

// MaxPIN bounds a PIN file.
const MaxPIN = 256

// ReadPIN returns the PIN from file (its first line) when file is set,
// else from the environment variable env. The file is opened without
// following a symlink or blocking on a FIFO, and must be a regular file
// of the user (or root) that nobody else can read. The PIN never appears
// in an error.
func ReadPIN(file, env string) (string, error) {
	if file == "" {
		pin, ok := os.LookupEnv(env)
		if !ok || pin == "" {
			return "", fmt.Errorf("pkcs11: no PIN: give --pkcs11-pin-file FILE or set %s (never on the command line)", env)
		}
		return pin, nil
	}
	f, fi, err := openPINFile(file)
	if err != nil {
		return "", fmt.Errorf("pkcs11: PIN file: %w", err)
	}
	defer f.Close()
	data, err := fsroot.ReadAll(f, fi.Size(), MaxPIN)
	if errors.Is(err, fsroot.ErrTooLarge) {
		return "", fmt.Errorf("pkcs11: PIN file %s is over %d bytes", file, MaxPIN)
	}
	if err != nil {
		return "", fmt.Errorf("pkcs11: PIN file: %w", err)
	}
	pin, _, _ := strings.Cut(string(data), "\n")
	pin = strings.TrimRight(pin, "\r")
	if pin == "" {
		return "", fmt.Errorf("pkcs11: PIN file %s is empty", file)
	}
	return pin, nil
}
