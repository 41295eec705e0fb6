// Package softhsmtest makes throwaway SoftHSM tokens with the real
// softhsm2-util and pkcs11-tool (Debian packages softhsm2 and opensc),
// for tests of PKCS#11 signing. Nothing in the product imports it.
package softhsmtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anchorwatch/anchorwatch/internal/testpki"
)

// Module is Debian's SoftHSM v2 module.
const Module = "/usr/lib/softhsm/libsofthsm2.so"

// Token is an initialized SoftHSM token in a temporary directory.
type Token struct {
	Dir, Conf, Label, PIN string
	// CA issues the certificates of the token's keys.
	CA *testpki.CA
}

// New initializes a token labelled label with a fresh SOFTHSM2_CONF (set
// in the test's environment) and a random user PIN.
func New(tb testing.TB, label string) *Token {
	tb.Helper()
	for _, tool := range []struct{ name, pkg string }{{"softhsm2-util", "softhsm2"}, {"pkcs11-tool", "opensc"}} {
		if _, err := exec.LookPath(tool.name); err != nil {
			tb.Fatalf("%s not found: install the Debian package %s", tool.name, tool.pkg)
		}
	}
	if _, err := os.Stat(Module); err != nil {
		tb.Fatalf("%s: %v (install the Debian package softhsm2)", Module, err)
	}
	dir := tb.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		tb.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	cfg := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	tb.Setenv("SOFTHSM2_CONF", conf)
	t := &Token{Dir: dir, Conf: conf, Label: label, PIN: "pin-" + randomHex(tb), CA: testpki.NewCA(tb, "Token Test CA")}
	// Throwaway PINs of a throwaway token: the real tools take them as
	// arguments (the product never does).
	run(tb, "softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", "so-"+t.PIN, "--pin", t.PIN)
	return t
}

// GenKey makes a key pair on the token (keyType as pkcs11-tool takes it:
// "EC:prime256v1", "EC:secp384r1", "rsa:2048") and returns a certificate
// for its public key, issued by t.CA.
func (t *Token) GenKey(tb testing.TB, label, id, keyType string) *x509.Certificate {
	tb.Helper()
	base := []string{"--module", Module, "--token-label", t.Label, "--login", "--pin", t.PIN}
	run(tb, "pkcs11-tool", append(base, "--keypairgen", "--key-type", keyType, "--label", label, "--id", id)...)
	var pub crypto.PublicKey
	if curve, ok := strings.CutPrefix(keyType, "EC:"); ok {
		pub = t.ecPublic(tb, base, label, curve)
	} else {
		der := filepath.Join(tb.TempDir(), "pub.der")
		run(tb, "pkcs11-tool", append(base, "--read-object", "--type", "pubkey", "--label", label, "-o", der)...)
		data, err := os.ReadFile(der)
		if err != nil {
			tb.Fatal(err)
		}
		if pub, err = x509.ParsePKIXPublicKey(data); err != nil {
			tb.Fatalf("public key of %s: %v", label, err)
		}
	}
	return t.Certify(tb, label, pub)
}

// Certify issues a policy signer certificate for pub from t.CA.
func (t *Token) Certify(tb testing.TB, cn string, pub crypto.PublicKey) *x509.Certificate {
	tb.Helper()
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: "Policy Signer " + cn, Organization: []string{testpki.Org}},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, t.CA.Cert, pub, t.CA.Key)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// ecPublic reads the EC_POINT pkcs11-tool lists for the public key
// labelled label (its --read-object cannot export P-384 keys).
func (t *Token) ecPublic(tb testing.TB, base []string, label, curve string) crypto.PublicKey {
	tb.Helper()
	// --list-objects lists every public key whatever --label says: pick
	// the block of ours.
	out := string(run(tb, "pkcs11-tool", append(base, "--list-objects", "--type", "pubkey")...))
	var rest string
	for _, block := range strings.Split(out, "Public Key Object")[1:] {
		if hasLine(block, "label:", label) {
			_, rest, _ = strings.Cut(block, "EC_POINT:")
		}
	}
	if rest == "" {
		tb.Fatalf("pkcs11-tool lists no EC_POINT for %s:\n%s", label, out)
	}
	der, err := hex.DecodeString(strings.Fields(rest)[0])
	if err != nil {
		tb.Fatal(err)
	}
	var point []byte
	if _, err := asn1.Unmarshal(der, &point); err != nil {
		tb.Fatalf("EC_POINT of %s: %v", label, err)
	}
	c := map[string]elliptic.Curve{"prime256v1": elliptic.P256(), "secp384r1": elliptic.P384(), "secp521r1": elliptic.P521()}[curve]
	if c == nil {
		tb.Fatalf("curve %s", curve)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(c, point)
	if err != nil {
		tb.Fatalf("EC_POINT of %s: %v", label, err)
	}
	return pub
}

// hasLine reports whether block has a line "key value".
func hasLine(block, key, value string) bool {
	for _, line := range strings.Split(block, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key && f[1] == value {
			return true
		}
	}
	return false
}

func run(tb testing.TB, name string, args ...string) []byte {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func randomHex(tb testing.TB) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}
