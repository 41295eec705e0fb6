package pkcs11

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// memToken does what a token does for CKM_RSA_PKCS (raw PKCS#1 v1.5
// padding of the given bytes) and CKM_ECDSA (r||s over the digest), with
// Go's own crypto as the reference the conversions are checked against.
type memToken struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
}

func (m memToken) keyType() uint64 {
	if m.rsa != nil {
		return ckkRSA
	}
	return ckkEC
}

func (m memToken) sign(mech uint64, data []byte) ([]byte, error) {
	switch {
	case mech == ckmRSAPKCS && m.rsa != nil:
		return rsa.SignPKCS1v15(rand.Reader, m.rsa, crypto.Hash(0), data) // no hash: data is the DigestInfo
	case mech == ckmECDSA && m.ec != nil:
		r, s, err := ecdsa.Sign(rand.Reader, m.ec, data)
		if err != nil {
			return nil, err
		}
		n := (m.ec.Curve.Params().BitSize + 7) / 8
		return append(r.FillBytes(make([]byte, n)), s.FillBytes(make([]byte, n))...), nil
	}
	return nil, fmt.Errorf("mechanism 0x%x for this key", mech)
}

func (memToken) close() error { return nil }

// TestSignConversions: the DigestInfo built for CKM_RSA_PKCS and the
// ASN.1 made of CKM_ECDSA's r||s verify with crypto/rsa and crypto/ecdsa
// for every hash policies use.
func TestSignConversions(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	msg := []byte("policy")
	digests := map[crypto.Hash][]byte{}
	s256 := sha256.Sum256(msg)
	s384 := sha512.Sum384(msg)
	s512 := sha512.Sum512(msg)
	digests[crypto.SHA256], digests[crypto.SHA384], digests[crypto.SHA512] = s256[:], s384[:], s512[:]
	rs := &Signer{tok: memToken{rsa: rk}}
	for h, d := range digests {
		sig, err := rs.Sign(nil, d, h)
		if err != nil {
			t.Fatal(err)
		}
		if err := rsa.VerifyPKCS1v15(&rk.PublicKey, h, d, sig); err != nil {
			t.Errorf("RSA %v: %v", h, err)
		}
	}
	if _, err := rs.Sign(nil, s256[:], crypto.SHA1); err == nil {
		t.Error("SHA-1 accepted")
	}
	if _, err := rs.Sign(nil, s256[:], &rsa.PSSOptions{Hash: crypto.SHA256}); err == nil {
		t.Error("PSS accepted")
	}
	if _, err := rs.Sign(nil, s256[:20], crypto.SHA256); err == nil {
		t.Error("a short digest accepted")
	}
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		ek, _ := ecdsa.GenerateKey(curve, rand.Reader)
		es := &Signer{tok: memToken{ec: ek}}
		for i := 0; i < 20; i++ { // r and s with leading zero bytes come up
			sig, err := es.Sign(nil, s256[:], crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if !ecdsa.VerifyASN1(&ek.PublicKey, s256[:], sig) {
				t.Fatalf("%s: the ASN.1 signature does not verify", curve.Params().Name)
			}
		}
	}
	for _, raw := range [][]byte{nil, {1, 2, 3}, make([]byte, 200)} {
		if _, err := rawToASN1(raw); err == nil {
			t.Errorf("rawToASN1 accepted %d bytes", len(raw))
		}
	}
	if got, _ := rawToASN1([]byte{0, 1, 0x80, 0}); got == nil || new(big.Int).SetBytes([]byte{0x80, 0}).Cmp(big.NewInt(0x8000)) != 0 {
		t.Error("rawToASN1 of a short signature")
	}
}

func TestRVErrors(t *testing.T) {
	cfg := Config{Token: "awtest", PIN: "s3cret-pin"}
	for rv, want := range map[uint64]error{ckrPINIncorrect: ErrPINIncorrect, ckrPINLenRange: ErrPINIncorrect, ckrPINLocked: ErrPINLocked, 0x30: ErrTokenOperation} {
		err := rvError("C_Login", rv, cfg)
		if !errors.Is(err, want) || strings.Contains(err.Error(), cfg.PIN) {
			t.Errorf("0x%x: %v", rv, err)
		}
	}
	if err := rvError("C_Sign", 0x30, cfg); !strings.Contains(err.Error(), "C_Sign: CKR_DEVICE_ERROR") {
		t.Errorf("named: %v", err)
	}
}

func TestReadPIN(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pin")
	os.WriteFile(f, []byte("1234\nignored\n"), 0o600)
	if pin, err := ReadPIN(f, "UNUSED"); err != nil || pin != "1234" {
		t.Fatalf("file: %q %v", pin, err)
	}
	os.Chmod(f, 0o644)
	if _, err := ReadPIN(f, ""); err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), "1234") {
		t.Errorf("readable by others: %v", err)
	}
	os.WriteFile(f, []byte("\n"), 0o600)
	os.Chmod(f, 0o600)
	if _, err := ReadPIN(f, ""); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty: %v", err)
	}
	os.WriteFile(f, []byte(strings.Repeat("9", MaxPIN+1)), 0o600)
	if _, err := ReadPIN(f, ""); err == nil || !strings.Contains(err.Error(), "over") {
		t.Errorf("huge: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := exec.Command("mkfifo", "-m", "600", fifo).Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPIN(fifo, ""); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("fifo: %v", err)
	}
	// A hostile user's file, and a symlink to the PIN file.
	os.WriteFile(f, []byte("1234\n"), 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(f, link)
	if _, err := ReadPIN(link, ""); err == nil || !strings.Contains(err.Error(), "is a symlink") {
		t.Errorf("symlink: %v", err)
	}
	mustRun(t, "chown", hostileUser(t), f)
	if _, err := ReadPIN(f, ""); err == nil || !strings.Contains(err.Error(), "belongs to another user") {
		t.Errorf("another user's file: %v", err)
	}
	t.Setenv("AW_TEST_PIN", "5678")
	if pin, err := ReadPIN("", "AW_TEST_PIN"); err != nil || pin != "5678" {
		t.Errorf("env: %q %v", pin, err)
	}
	if _, err := ReadPIN("", "AW_TEST_PIN_UNSET"); err == nil || !strings.Contains(err.Error(), "never on the command line") {
		t.Errorf("none: %v", err)
	}
}

// TestCheckModule: only a module nobody but root could have written is
// loaded. A hostile user (created here) plants a module copy in a
// directory of theirs and a symlink to the real module; a root-owned
// directory that is group-writable is refused too.
func TestCheckModule(t *testing.T) {
	const real = "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"
	if got, err := checkModule("/usr/lib/softhsm/libsofthsm2.so", os.Geteuid()); err != nil || got != real {
		t.Fatalf("the Debian module: %q %v", got, err)
	}
	if _, err := checkModule("libsofthsm2.so", 0); !errors.Is(err, ErrModule) || !strings.Contains(err.Error(), "absolute path") {
		t.Errorf("relative: %v", err)
	}
	user := hostileUser(t)
	top, err := os.MkdirTemp("", "awp11")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	os.Chmod(top, 0o755)
	home := filepath.Join(top, "hostile")
	os.Mkdir(home, 0o755)
	mustRun(t, "chown", user+":"+user, home)
	copyFile := filepath.Join(home, "libevil.so")
	link := filepath.Join(home, "libsofthsm2.so")
	mustRun(t, "su", "-s", "/bin/sh", user, "-c", fmt.Sprintf("cp %s %s && ln -s %s %s", real, copyFile, real, link))
	if _, err := checkModule(copyFile, os.Geteuid()); !errors.Is(err, ErrModule) || !strings.Contains(err.Error(), "owned by uid") {
		t.Errorf("a module in the hostile user's directory: %v", err)
	}
	// The symlink is resolved first: what is loaded is the root-owned
	// target, so swapping the link later changes nothing.
	if got, err := checkModule(link, os.Geteuid()); err != nil || got != real {
		t.Errorf("a symlink to the real module: %q %v", got, err)
	}
	shared := filepath.Join(t.TempDir(), "shared")
	os.Mkdir(shared, 0o775)
	os.Chmod(shared, 0o775)
	mod := filepath.Join(shared, "lib.so")
	os.WriteFile(mod, []byte("x"), 0o755)
	if _, err := checkModule(mod, os.Geteuid()); !errors.Is(err, ErrModule) || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("a group-writable directory: %v", err)
	}
}

// hostileUser creates an unprivileged user for the test and removes it
// afterwards.
func hostileUser(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test creates a hostile user: run it as root (CI does)")
	}
	b := make([]byte, 4)
	rand.Read(b)
	name := fmt.Sprintf("awp11%x", b)
	mustRun(t, "useradd", "-M", "-s", "/bin/sh", name)
	t.Cleanup(func() { exec.Command("userdel", "-r", name).Run() })
	return name
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}
