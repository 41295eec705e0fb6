package policy

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"go.mozilla.org/pkcs7"

	"github.com/anchorwatch/anchorwatch/stores"
)

// MaxSigned bounds a signed policy blob: the document plus the signer
// certificate and signature.
const MaxSigned = MaxDocument + 256<<10

// Reasons a signed policy is refused. Verify wraps exactly one of them, so
// callers (the agent's policy-rejected event) can tell them apart with
// errors.Is.
var (
	ErrUnsigned      = errors.New("policy is not signed")
	ErrWrongSigner   = errors.New("policy is not signed by the pinned signer")
	ErrTampered      = errors.New("policy signature does not match its content")
	ErrSignerExpired = errors.New("policy signer certificate is not valid")
	ErrReplayed      = errors.New("policy serial is not greater than the one held")
	ErrWeakAlgorithm = errors.New("policy signature algorithm is not accepted")
)

// SignOptions tune SignWith.
type SignOptions struct {
	// ValidFor sets not_after to the signing time plus ValidFor. Zero
	// keeps the document's not_after, or gives DefaultValidity when it
	// has none. A document that sets not_after and a non-zero ValidFor
	// is refused: say it once.
	ValidFor time.Duration
	// Now is the signing time; zero means time.Now().
	Now time.Time
}

// Sign is SignWith with default options: a document without not_after
// gets DefaultValidity.
func Sign(doc []byte, cert *x509.Certificate, key crypto.Signer) ([]byte, error) {
	return SignWith(doc, cert, key, SignOptions{})
}

// SignWith signs a policy document as PKCS#7 SignedData with the content
// attached (SHA-256, signing time as a signed attribute) and returns the
// DER. When the document has no not_after, one is inserted (the only
// change made to it). It refuses a document that does not Parse, a
// lifetime outside MinValidity..MaxValidity, and a signer certificate
// that is not valid now, so what it writes is what agents accept.
func SignWith(doc []byte, cert *x509.Certificate, key crypto.Signer, opt SignOptions) ([]byte, error) {
	d, err := Parse(doc)
	if err != nil {
		return nil, err
	}
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return nil, fmt.Errorf("sign policy: %w: %q is valid %s to %s; issue a new signer certificate and pin it on the agents",
			ErrSignerExpired, cert.Subject.String(), cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339))
	}
	if err := matchKey(cert, key); err != nil {
		return nil, fmt.Errorf("sign policy: %w", err)
	}
	if doc, err = stampValidity(doc, d, now, opt.ValidFor); err != nil {
		return nil, fmt.Errorf("sign policy: %w", err)
	}
	sd, err := pkcs7.NewSignedData(doc)
	if err != nil {
		return nil, fmt.Errorf("sign policy: %w", err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSigner(cert, key, pkcs7.SignerInfoConfig{}); err != nil {
		return nil, fmt.Errorf("sign policy: %w", err)
	}
	out, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("sign policy: %w", err)
	}
	return out, nil
}

// stampValidity gives doc (parsed as d) its not_after and checks the
// lifetime it then has at now.
func stampValidity(doc []byte, d *Document, now time.Time, validFor time.Duration) ([]byte, error) {
	switch {
	case d.NotAfter != nil && validFor != 0:
		return nil, fmt.Errorf("%w: not_after: the document sets %s and a validity was given too; remove one",
			ErrInvalid, d.NotAfter.UTC().Format(time.RFC3339))
	case d.NotAfter == nil:
		if validFor == 0 {
			validFor = DefaultValidity
		}
		na := now.Add(validFor).UTC().Truncate(time.Second)
		var err error
		if doc, err = withNotAfter(doc, na); err != nil {
			return nil, err
		}
		if d, err = Parse(doc); err != nil {
			return nil, err
		}
	}
	life := d.NotAfter.Sub(now)
	if life < MinValidity || life > MaxValidity {
		return nil, fmt.Errorf("%w: not_after: %s is %s from now; give a validity between %s and %d days",
			ErrInvalid, d.NotAfter.UTC().Format(time.RFC3339), life.Round(time.Minute), MinValidity, MaxValidity/(24*time.Hour))
	}
	if d.NotBefore != nil && d.NotBefore.After(now.Add(MaxValidity)) {
		return nil, fmt.Errorf("%w: not_before: %s is too far ahead", ErrInvalid, d.NotBefore.UTC().Format(time.RFC3339))
	}
	return doc, nil
}

func matchKey(cert *x509.Certificate, key crypto.Signer) error {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := key.Public().(equaler)
	if !ok || !pub.Equal(cert.PublicKey) {
		return errors.New("the private key does not belong to the signer certificate")
	}
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
		return nil
	}
	return fmt.Errorf("%T keys are not supported for PKCS#7 signing: use RSA or ECDSA", key)
}

// VerifyOptions say what a signed policy must satisfy.
type VerifyOptions struct {
	// Signer is the pinned signer certificate. The policy must be signed
	// by exactly this certificate (same DER), not merely by one that
	// chains to it.
	Signer *x509.Certificate
	// HeldSerial is the serial of the policy in force; the new one must be
	// strictly greater. Zero accepts any valid serial.
	HeldSerial int64
	// MinSerial is the lowest serial accepted whatever is held: the floor
	// an installer gives an agent that holds no policy yet.
	MinSerial int64
	// Now is the time the signer's validity is checked at; zero means
	// time.Now().
	Now time.Time
	// AllowExpiredSigner skips the check of the signer's validity at Now
	// (the signing time must still fall within it). The agent uses it to
	// re-verify, on start, the policy it had already accepted.
	AllowExpiredSigner bool
	// AllowExpired skips the policy's own validity (not_before,
	// not_after, and the requirement to carry not_after): the agent
	// re-verifies the policy it holds, which stays in force past its
	// expiry (reported, never uninstalled).
	AllowExpired bool
}

// Verified is a policy that passed Verify.
type Verified struct {
	Document *Document
	// Content is the signed JSON exactly as signed.
	Content []byte
	// SignedAt is the signing time attribute, zero when absent.
	SignedAt time.Time
	Signer   *x509.Certificate
	// Digest names the digest algorithm of the signature ("SHA-256").
	Digest string
}

// Verify checks a signed policy (DER, or PEM "PKCS7"/"CMS") against the
// options and returns the document. Every refusal wraps one of
// ErrUnsigned, ErrWrongSigner, ErrWeakAlgorithm, ErrTampered,
// ErrSignerExpired, ErrReplayed, ErrExpired, ErrNotYetValid, ErrNoExpiry
// or ErrInvalid and says what to do.
func Verify(blob []byte, opt VerifyOptions) (*Verified, error) {
	if opt.Signer == nil {
		return nil, errors.New("verify policy: no signer certificate is pinned")
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	if len(blob) > MaxSigned {
		return nil, fmt.Errorf("verify policy: %w: %d bytes is over the %d byte limit", ErrInvalid, len(blob), MaxSigned)
	}
	der := blob
	if b, _ := pem.Decode(blob); b != nil {
		der = b.Bytes
	} else if t := bytes.TrimSpace(blob); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		return nil, fmt.Errorf("verify policy: %w: this is plain JSON; sign it with `anchorwatch policy sign`", ErrUnsigned)
	}
	p7, err := parseSigned(der)
	if err != nil {
		return nil, fmt.Errorf("verify policy: %w: not a PKCS#7 SignedData (%v)", ErrUnsigned, err)
	}
	if len(p7.Signers) == 0 {
		return nil, fmt.Errorf("verify policy: %w: the PKCS#7 holds no signature", ErrUnsigned)
	}
	if len(p7.Signers) > 1 {
		return nil, fmt.Errorf("verify policy: %w: %d signatures; a policy carries exactly one", ErrWrongSigner, len(p7.Signers))
	}
	if len(p7.Content) == 0 {
		return nil, fmt.Errorf("verify policy: %w: the content is not attached (detached signature)", ErrUnsigned)
	}
	claimed := p7.GetOnlySigner()
	if claimed == nil || !bytes.Equal(claimed.Raw, opt.Signer.Raw) {
		who := "an unknown certificate"
		if claimed != nil {
			who = fmt.Sprintf("%q (sha256 %s)", claimed.Subject.String(), fingerprint(claimed))
		}
		return nil, fmt.Errorf("verify policy: %w: signed by %s, pinned signer is %q (sha256 %s)",
			ErrWrongSigner, who, opt.Signer.Subject.String(), fingerprint(opt.Signer))
	}
	digest, err := checkAlgorithms(p7.Signers[0].DigestAlgorithm.Algorithm, p7.Signers[0].DigestEncryptionAlgorithm.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("verify policy: %w: %v; sign with SHA-256, SHA-384 or SHA-512 (`anchorwatch policy sign`, or openssl cms -sign -md sha256)", ErrWeakAlgorithm, err)
	}
	// Verify against the pinned certificate only: whatever else the
	// message carries plays no part.
	p7.Certificates = []*x509.Certificate{opt.Signer}
	if err := verifySigned(p7); err != nil {
		var mm *pkcs7.MessageDigestMismatchError
		switch {
		case errors.As(err, &mm):
			return nil, fmt.Errorf("verify policy: %w: content digest mismatch (modified after signing)", ErrTampered)
		case isSigningTimeError(err):
			return nil, fmt.Errorf("verify policy: %w: %v", ErrSignerExpired, err)
		default:
			return nil, fmt.Errorf("verify policy: %w: %v", ErrTampered, err)
		}
	}
	var signedAt time.Time
	if err := p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeSigningTime, &signedAt); err != nil {
		signedAt = time.Time{}
	}
	if !opt.AllowExpiredSigner && (opt.Now.Before(opt.Signer.NotBefore) || opt.Now.After(opt.Signer.NotAfter)) {
		return nil, fmt.Errorf("verify policy: %w: %q is valid %s to %s, not at %s; issue a new signer and re-pin it on the agents",
			ErrSignerExpired, opt.Signer.Subject.String(), opt.Signer.NotBefore.Format(time.RFC3339),
			opt.Signer.NotAfter.Format(time.RFC3339), opt.Now.UTC().Format(time.RFC3339))
	}
	doc, err := Parse(p7.Content)
	if err != nil {
		return nil, fmt.Errorf("verify policy: %w", err)
	}
	if doc.Serial < opt.MinSerial {
		return nil, fmt.Errorf("verify policy: %w: serial %d is below the minimum %d this agent was installed with (min_policy_serial); an old policy replayed",
			ErrReplayed, doc.Serial, opt.MinSerial)
	}
	if doc.Serial <= opt.HeldSerial {
		return nil, fmt.Errorf("verify policy: %w: serial %d, held %d (an old policy replayed, or the new one was published without raising the serial)",
			ErrReplayed, doc.Serial, opt.HeldSerial)
	}
	if !opt.AllowExpired {
		if err := doc.CheckValidity(opt.Now); err != nil {
			return nil, fmt.Errorf("verify policy: %w", err)
		}
	}
	return &Verified{Document: doc, Content: p7.Content, SignedAt: signedAt, Signer: opt.Signer, Digest: digest}, nil
}

func fingerprint(c *x509.Certificate) string {
	s := stores.SHA256(c)
	return s[:16] + "…"
}

func isSigningTimeError(err error) bool {
	return err != nil && bytes.Contains([]byte(err.Error()), []byte("is outside of certificate validity"))
}

// parseSigned parses PKCS#7 and turns a parser panic on hostile input
// into an error.
func parseSigned(der []byte) (p7 *pkcs7.PKCS7, err error) {
	defer func() {
		if r := recover(); r != nil {
			p7, err = nil, fmt.Errorf("malformed PKCS#7: %v", r)
		}
	}()
	if err := CheckBER(der); err != nil {
		return nil, err
	}
	return pkcs7.Parse(der)
}

func verifySigned(p7 *pkcs7.PKCS7) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed signature: %v", r)
		}
	}()
	return p7.Verify()
}

// Content returns the attached content of a signed policy without
// checking the signature: for `policy show` of a file from an untrusted
// source. Never act on it without Verify.
func Content(blob []byte) ([]byte, *x509.Certificate, error) {
	der := blob
	if b, _ := pem.Decode(blob); b != nil {
		der = b.Bytes
	}
	p7, err := parseSigned(der)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: not a PKCS#7 SignedData (%v)", ErrUnsigned, err)
	}
	if len(p7.Content) == 0 {
		return nil, nil, fmt.Errorf("%w: no attached content", ErrUnsigned)
	}
	return p7.Content, p7.GetOnlySigner(), nil
}

// LoadSigner reads a signer certificate and its private key (PEM: PKCS#8,
// PKCS#1 RSA or SEC 1 EC, unencrypted).
func LoadSigner(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	cert, err := LoadCertificate(certFile)
	if err != nil {
		return nil, nil, err
	}
	data, err := readLimited(keyFile, 1<<20)
	if err != nil {
		return nil, nil, fmt.Errorf("signer key: %w", err)
	}
	key, err := parseKey(data)
	if err != nil {
		return nil, nil, fmt.Errorf("signer key %s: %w", keyFile, err)
	}
	if err := matchKey(cert, key); err != nil {
		return nil, nil, fmt.Errorf("signer key %s: %w (certificate %s)", keyFile, err, certFile)
	}
	return cert, key, nil
}

// LoadCertificate reads one certificate (PEM or DER), e.g. the pinned
// policy signer.
func LoadCertificate(file string) (*x509.Certificate, error) {
	data, err := readLimited(file, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	der := data
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("certificate %s: PEM block is %q, want CERTIFICATE", file, b.Type)
		}
		der = b.Bytes
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", file, err)
	}
	return c, nil
}

func parseKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block found (want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)")
	}
	if x509.IsEncryptedPEMBlock(b) || b.Type == "ENCRYPTED PRIVATE KEY" { //nolint:staticcheck // detection only
		return nil, errors.New("the key is encrypted: decrypt it (openssl pkey -in k -out k.plain) on the signing machine")
	}
	var (
		k   any
		err error
	)
	switch b.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("PEM block is %q, want a private key", b.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T is not a signing key", k)
	}
	return s, nil
}

func readLimited(file string, limit int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes is over the %d byte limit", file, fi.Size(), limit)
	}
	return os.ReadFile(file)
}
