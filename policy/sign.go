package policy

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"go.mozilla.org/pkcs7"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
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
// attached (signing time as a signed attribute; SHA-256 for RSA and P-256
// keys, SHA-384 for P-384) and returns the DER. key is any crypto.Signer
// for an RSA or ECDSA certificate: an in-memory key, or a PKCS#11 token
// (policy/pkcs11). When the document has no not_after, one is inserted
// (the only change made to it). It refuses a document that does not
// Parse, a lifetime outside MinValidity..MaxValidity, a next signer or a
// signer certificate that is not valid now, so what it writes is what
// agents accept.
func SignWith(doc []byte, cert *x509.Certificate, key crypto.Signer, opt SignOptions) ([]byte, error) {
	d, err := Parse(doc)
	if err != nil {
		return nil, err
	}
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	if err := checkSigner(cert, key, now); err != nil {
		return nil, fmt.Errorf("sign policy: %w", err)
	}
	if err := d.checkNextSigners(now); err != nil {
		return nil, fmt.Errorf("sign policy: %w", err)
	}
	if doc, err = stampValidity(doc, d, now, opt.ValidFor); err != nil {
		return nil, fmt.Errorf("sign policy: %w", err)
	}
	out, err := signedBlob(doc, now, keyPair{cert, key})
	if err != nil {
		return nil, fmt.Errorf("sign policy: %w", err)
	}
	return out, nil
}

// Cosign adds a signature by cert/key to a signed policy and returns the
// new DER: the content and every signature already there stay as they
// are (m-of-n signing, see VerifyOptions.Required). It refuses a blob
// whose signatures do not verify against the certificates it carries, a
// document that does not Parse or has expired, and a second signature by
// the same certificate.
func Cosign(blob []byte, cert *x509.Certificate, key crypto.Signer, now time.Time) ([]byte, error) {
	if now.IsZero() {
		now = time.Now()
	}
	if err := checkSigner(cert, key, now); err != nil {
		return nil, fmt.Errorf("cosign policy: %w", err)
	}
	der, err := signedDER(blob)
	if err != nil {
		return nil, fmt.Errorf("cosign policy: %w", err)
	}
	p7, err := parseSigned(der)
	if err != nil {
		return nil, fmt.Errorf("cosign policy: %w: not a PKCS#7 SignedData (%v)", ErrUnsigned, err)
	}
	if len(p7.Signers) == 0 || len(p7.Content) == 0 {
		return nil, fmt.Errorf("cosign policy: %w: no signature or no attached content; sign it first with `anchorwatch policy sign`", ErrUnsigned)
	}
	if len(p7.Signers) >= MaxSignatures {
		return nil, fmt.Errorf("cosign policy: %w: it already carries %d signatures", ErrInvalid, len(p7.Signers))
	}
	if err := verifySigned(p7); err != nil {
		return nil, fmt.Errorf("cosign policy: %w: a signature already on it does not verify (%v): do not sign what you cannot check", ErrTampered, err)
	}
	for _, c := range p7.Certificates {
		if bytes.Equal(c.Raw, cert.Raw) {
			return nil, fmt.Errorf("cosign policy: %w: %q has signed it already; a second signature must come from another signer", ErrInvalid, cert.Subject.String())
		}
	}
	d, err := Parse(p7.Content)
	if err != nil {
		return nil, fmt.Errorf("cosign policy: %w", err)
	}
	if err := d.CheckValidity(now); err != nil {
		return nil, fmt.Errorf("cosign policy: %w", err)
	}
	parts, err := decodeSignedData(der)
	if err != nil {
		return nil, fmt.Errorf("cosign policy: %w (re-sign it with `anchorwatch policy sign`, then cosign)", err)
	}
	si, alg, err := newSignerInfo(parts.content, cert, key, now)
	if err != nil {
		return nil, fmt.Errorf("cosign policy: %w", err)
	}
	parts.signerInfos = append(parts.signerInfos, si)
	parts.digestAlgs = append(parts.digestAlgs, alg)
	parts.certs = append(parts.certs, cert.Raw)
	out, err := encodeSignedData(parts)
	if err != nil {
		return nil, fmt.Errorf("cosign policy: %w", err)
	}
	return out, nil
}

// checkSigner checks that key belongs to cert, which must be valid at now.
func checkSigner(cert *x509.Certificate, key crypto.Signer, now time.Time) error {
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return fmt.Errorf("%w: %q is valid %s to %s; issue a new signer certificate and pin it on the agents (or name it in next_signers)",
			ErrSignerExpired, cert.Subject.String(), cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339))
	}
	return matchKey(cert, key)
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
	_, _, _, err := signerAlgorithms(cert.PublicKey)
	return err
}

// VerifyOptions say what a signed policy must satisfy.
type VerifyOptions struct {
	// Signer is a pinned signer certificate; Signers the pinned set (n).
	// Give either or both: every certificate named counts. The policy
	// must be signed by one of exactly these certificates (same DER), not
	// merely by one that chains to them.
	Signer  *x509.Certificate
	Signers []*x509.Certificate
	// NextSigners are the signers the policy in force names to take over
	// (next_signers): their signatures count as the pinned ones do.
	NextSigners []*x509.Certificate
	// Required is m: how many valid signatures, by distinct certificates
	// of Signers and NextSigners, a policy needs unless it changes
	// nothing but routine fields from Held (see TrustChanges). Zero
	// means one.
	Required int
	// Held is the policy in force, against which a policy with fewer than
	// Required signatures is compared; nil means every field is a change.
	Held *Document
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
	// SignedAt is the signing time attribute of the first counted
	// signature in the message, zero when absent.
	SignedAt time.Time
	// Signers are the pinned (or next) signers whose signatures verified,
	// in the order of the pinned set; Signer is the first of them.
	Signer  *x509.Certificate
	Signers []*x509.Certificate
	// Digest names the digest algorithm of the first counted signature
	// in the message ("SHA-256").
	Digest string
	// Changes lists the fields the policy changes beyond the routine ones
	// (TrustChanges against VerifyOptions.Held).
	Changes []string
}

// ErrTooFewSignatures is wrapped when a policy that changes more than the
// routine fields carries fewer valid signatures than required (m of n).
var ErrTooFewSignatures = errors.New("policy carries too few valid signatures")

// Verify checks a signed policy (DER, or PEM "PKCS7"/"CMS") against the
// options and returns the document. Every refusal wraps one of
// ErrUnsigned, ErrWrongSigner, ErrWeakAlgorithm, ErrTampered,
// ErrSignerExpired, ErrReplayed, ErrExpired, ErrNotYetValid, ErrNoExpiry,
// ErrTooFewSignatures or ErrInvalid and says what to do.
func Verify(blob []byte, opt VerifyOptions) (*Verified, error) {
	accepted := signerSet(opt)
	if len(accepted) == 0 {
		return nil, errors.New("verify policy: no signer certificate is pinned")
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	der, err := signedDER(blob)
	if err != nil {
		return nil, fmt.Errorf("verify policy: %w", err)
	}
	p7, err := parseSigned(der)
	if err != nil {
		return nil, fmt.Errorf("verify policy: %w: not a PKCS#7 SignedData (%v)", ErrUnsigned, err)
	}
	switch {
	case len(p7.Signers) == 0:
		return nil, fmt.Errorf("verify policy: %w: the PKCS#7 holds no signature", ErrUnsigned)
	case len(p7.Signers) > MaxSignatures:
		return nil, fmt.Errorf("verify policy: %w: %d signatures, more than %d", ErrInvalid, len(p7.Signers), MaxSignatures)
	case len(p7.Content) == 0:
		return nil, fmt.Errorf("verify policy: %w: the content is not attached (detached signature)", ErrUnsigned)
	}
	v, err := countSignatures(p7, accepted, opt)
	if err != nil {
		return nil, fmt.Errorf("verify policy: %w", err)
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
	v.Document, v.Content = doc, p7.Content
	v.Changes = TrustChanges(opt.Held, doc)
	if m := max(opt.Required, 1); len(v.Signers) < m && len(v.Changes) > 0 {
		return nil, fmt.Errorf("verify policy: %w: serial %d changes %s, which needs %d signatures by distinct pinned signers; it carries %d valid. "+
			"Add signatures with `anchorwatch policy cosign` (only %s may change with fewer)",
			ErrTooFewSignatures, doc.Serial, strings.Join(v.Changes, ", "), m, len(v.Signers), strings.Join(RoutineFields(), ", "))
	}
	return v, nil
}

// signerSet returns the distinct certificates whose signatures count.
func signerSet(opt VerifyOptions) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range append(append([]*x509.Certificate{opt.Signer}, opt.Signers...), opt.NextSigners...) {
		if c != nil && !slices.ContainsFunc(out, c.Equal) {
			out = append(out, c)
		}
	}
	return out
}

// signedDER returns the DER of a signed policy given as DER or PEM.
func signedDER(blob []byte) ([]byte, error) {
	if len(blob) > MaxSigned {
		return nil, fmt.Errorf("%w: %d bytes is over the %d byte limit", ErrInvalid, len(blob), MaxSigned)
	}
	if b, _ := pem.Decode(blob); b != nil {
		return b.Bytes, nil
	}
	if t := bytes.TrimSpace(blob); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		return nil, fmt.Errorf("%w: this is plain JSON; sign it with `anchorwatch policy sign`", ErrUnsigned)
	}
	return blob, nil
}

// countSignatures verifies every signature made by an accepted
// certificate and returns them (Signers, Signer, SignedAt, Digest). A
// signature by another certificate is not counted; one that claims an
// accepted certificate but does not verify, or uses a refused algorithm,
// refuses the whole policy.
func countSignatures(p7 *pkcs7.PKCS7, accepted []*x509.Certificate, opt VerifyOptions) (*Verified, error) {
	v := &Verified{}
	var others, expired []string
	for i, si := range p7.Signers {
		claimed := claimedSigner(p7, i)
		idx := -1
		if claimed != nil {
			idx = slices.IndexFunc(accepted, claimed.Equal)
		}
		if idx < 0 {
			who := "an unknown certificate"
			if claimed != nil {
				who = fmt.Sprintf("%q (sha256 %s)", claimed.Subject.String(), fingerprint(claimed))
			}
			others = append(others, who)
			continue
		}
		pin := accepted[idx]
		if slices.ContainsFunc(v.Signers, pin.Equal) {
			continue // the same signer twice counts once
		}
		digest, err := checkAlgorithms(si.DigestAlgorithm.Algorithm, si.DigestEncryptionAlgorithm.Algorithm)
		if err != nil {
			return nil, fmt.Errorf("%w: %v; sign with SHA-256, SHA-384 or SHA-512 (`anchorwatch policy sign`, or openssl cms -sign -md sha256)", ErrWeakAlgorithm, err)
		}
		// Verify against the pinned certificate only: whatever else the
		// message carries plays no part.
		one := &pkcs7.PKCS7{Content: p7.Content, Certificates: []*x509.Certificate{pin}, Signers: p7.Signers[i : i+1]}
		if err := verifySigned(one); err != nil {
			var mm *pkcs7.MessageDigestMismatchError
			switch {
			case errors.As(err, &mm):
				return nil, fmt.Errorf("%w: content digest mismatch (modified after signing)", ErrTampered)
			case signedOutsideValidity(p7, i, pin):
				return nil, fmt.Errorf("%w: %v", ErrSignerExpired, err)
			default:
				return nil, fmt.Errorf("%w: signature by %q: %v", ErrTampered, pin.Subject.String(), err)
			}
		}
		if !opt.AllowExpiredSigner && (opt.Now.Before(pin.NotBefore) || opt.Now.After(pin.NotAfter)) {
			expired = append(expired, fmt.Sprintf("%q is valid %s to %s, not at %s", pin.Subject.String(), pin.NotBefore.Format(time.RFC3339),
				pin.NotAfter.Format(time.RFC3339), opt.Now.UTC().Format(time.RFC3339)))
			continue
		}
		if len(v.Signers) == 0 {
			v.Digest = digest
			v.SignedAt, _ = signingTime(p7, i)
		}
		v.Signers = append(v.Signers, pin)
	}
	if len(v.Signers) > 0 {
		// In the order of the pinned set, whatever the message's.
		slices.SortStableFunc(v.Signers, func(x, y *x509.Certificate) int {
			return slices.IndexFunc(accepted, x.Equal) - slices.IndexFunc(accepted, y.Equal)
		})
		v.Signer = v.Signers[0]
		return v, nil
	}
	if len(expired) > 0 {
		return nil, fmt.Errorf("%w: %s; issue a new signer and re-pin it on the agents (or name it in next_signers before the old one expires)",
			ErrSignerExpired, strings.Join(expired, "; "))
	}
	pinned := make([]string, 0, len(accepted))
	for _, c := range accepted {
		pinned = append(pinned, fmt.Sprintf("%q (sha256 %s)", c.Subject.String(), fingerprint(c)))
	}
	return nil, fmt.Errorf("%w: signed by %s, pinned signer is %s", ErrWrongSigner, strings.Join(others, ", "), strings.Join(pinned, " or "))
}

// claimedSigner returns the certificate the message carries for its i-th
// signature (by issuer and serial number), or nil.
func claimedSigner(p7 *pkcs7.PKCS7, i int) *x509.Certificate {
	ias := p7.Signers[i].IssuerAndSerialNumber
	for _, c := range p7.Certificates {
		if bytes.Equal(c.RawIssuer, ias.IssuerName.FullBytes) && ias.SerialNumber != nil && c.SerialNumber.Cmp(ias.SerialNumber) == 0 {
			return c
		}
	}
	return nil
}

func fingerprint(c *x509.Certificate) string {
	s := stores.SHA256(c)
	return s[:16] + "…"
}

// signingTime returns the signing time attribute of the message's i-th
// signature (the first one, as pkcs7 reads it), and whether it has one.
func signingTime(p7 *pkcs7.PKCS7, i int) (time.Time, bool) {
	for _, a := range p7.Signers[i].AuthenticatedAttributes {
		if a.Type.Equal(oidSigningTime) {
			var t time.Time
			if _, err := asn1.Unmarshal(a.Value.Bytes, &t); err != nil {
				return time.Time{}, false
			}
			return t, true
		}
	}
	return time.Time{}, false
}

// signedOutsideValidity reports whether the i-th signature's signing
// time falls outside cert's validity: pkcs7 then refuses it, and the
// signer was not valid when it signed.
func signedOutsideValidity(p7 *pkcs7.PKCS7, i int, cert *x509.Certificate) bool {
	at, ok := signingTime(p7, i)
	return ok && (at.Before(cert.NotBefore) || at.After(cert.NotAfter))
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
	if len(p7.Signers) == 0 {
		return p7.Content, nil, nil
	}
	return p7.Content, claimedSigner(p7, 0), nil
}

// Inspect returns the attached content of a signed policy (DER or PEM)
// whose every signature verifies against the certificate the message
// carries for it. It says nothing of who signed: the collector uses it to
// refuse a truncated, corrupted or tampered upload, while trust in the
// signer is the agents' business (Verify against their pins). Errors wrap
// ErrUnsigned, ErrTampered or ErrInvalid.
func Inspect(blob []byte) ([]byte, error) {
	der, err := signedDER(blob)
	if err != nil {
		return nil, err
	}
	p7, err := parseSigned(der)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: not a PKCS#7 SignedData blob (%v)", ErrUnsigned, err)
	case len(p7.Content) == 0:
		return nil, fmt.Errorf("%w: the PKCS#7 has no attached content: sign with the content attached", ErrUnsigned)
	case len(p7.Signers) == 0:
		return nil, fmt.Errorf("%w: the PKCS#7 holds no signature", ErrUnsigned)
	}
	if err := verifySigned(p7); err != nil {
		return nil, fmt.Errorf("%w: the signature does not verify against its own certificate (corrupted or tampered blob): %v", ErrTampered, err)
	}
	return p7.Content, nil
}

// Signatures returns the certificate each signature of a signed policy
// claims (nil where the message does not carry it), without checking any:
// for `policy show` of a file from an untrusted source.
func Signatures(blob []byte) []*x509.Certificate {
	der, err := signedDER(blob)
	if err != nil {
		return nil
	}
	p7, err := parseSigned(der)
	if err != nil {
		return nil
	}
	out := make([]*x509.Certificate, len(p7.Signers))
	for i := range p7.Signers {
		out[i] = claimedSigner(p7, i)
	}
	return out
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

// readLimited reads file, at most limit bytes (fsroot.ErrTooLarge
// beyond, also for a file that grows while it is read).
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
	return fsroot.ReadAll(f, fi.Size(), limit)
}
