package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/api/client"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// fileHostKey holds the host key: the Ed25519 key pair the agent makes at
// its first enrollment (PKCS#8 PEM, mode 0600, in the root-only state
// directory). The collector keeps the public half and enrolls this
// machine id again only for a request signed with it (or carrying the
// current node key): knowing the machine id and the fleet's enroll secret
// is not enough to take the host over.
const fileHostKey = "host_key"

// maxHostKeyFile bounds the key file (a PEM Ed25519 key is 119 bytes).
const maxHostKeyFile = 4 << 10

// hostKey loads the host key; ok is false when there is none yet.
func (s *stateDir) hostKey() (key ed25519.PrivateKey, ok bool, err error) {
	data, err := readBounded(s.path(fileHostKey), maxHostKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("host key: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, false, fmt.Errorf("host key %s: not a PEM PRIVATE KEY; move it away to make a new one (the collector then flags this host until an administrator merges it)", s.path(fileHostKey))
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, false, fmt.Errorf("host key %s: %w", s.path(fileHostKey), err)
	}
	ek, isEd := k.(ed25519.PrivateKey)
	if !isEd {
		return nil, false, fmt.Errorf("host key %s: %T, want Ed25519", s.path(fileHostKey), k)
	}
	return ek, true, nil
}

// ensureHostKey loads the host key, or makes and stores one.
func (s *stateDir) ensureHostKey() (ed25519.PrivateKey, error) {
	if k, ok, err := s.hostKey(); ok || err != nil {
		return k, err
	}
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	if err := fsroot.WriteFileAtomic(s.path(fileHostKey), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	return k, nil
}

// publicKeyID names a host key in the state file: SHA-256 of its public
// half (PKIX DER), hex.
func publicKeyID(k ed25519.PrivateKey) string {
	der, _ := x509.MarshalPKIXPublicKey(k.Public())
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// keyBound reports whether the collector holds k as this host's key.
func (s *stateDir) keyBound(k ed25519.PrivateKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.BoundKey != "" && s.st.BoundKey == publicKeyID(k)
}

func (s *stateDir) setKeyBound(k ed25519.PrivateKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.BoundKey = publicKeyID(k)
	return s.saveLocked()
}

// enroll exchanges the enroll secret, host facts and a proof of the host
// key for a node key. current is the node key held, if any (it binds a
// host enrolled before host keys). A collector that predates host keys
// refuses the fields (400): the agent then enrolls without them.
func (a *Agent) enroll(ctx context.Context, current string) (string, error) {
	secret, err := a.cfg.enrollSecret()
	if err != nil {
		return "", err
	}
	hk, err := a.state.ensureHostKey()
	if err != nil {
		return "", err
	}
	a.mu.Lock()
	facts := a.facts
	a.mu.Unlock()
	resp, err := a.client.Enroll(ctx, client.EnrollRequest{Secret: secret, Facts: facts, HostKey: hk, NodeKey: current})
	var ae *client.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest && ae.Said(api.ErrBadRequest) {
		a.log.Warn("the collector does not take host keys (older than this agent): enrolling without one; upgrade the collector", "err", err)
		hk = nil
		resp, err = a.client.Enroll(ctx, client.EnrollRequest{Secret: secret, Facts: facts})
	}
	if err != nil {
		return "", fmt.Errorf("enroll: %w", err)
	}
	if err := a.state.setNodeKey(resp.NodeKey); err != nil {
		return "", fmt.Errorf("enroll: save node key: %w", err)
	}
	if hk != nil {
		if err := a.state.setKeyBound(hk); err != nil {
			a.log.Warn("cannot record the host key as bound", "err", err)
		}
	}
	a.mu.Lock()
	a.enrollConflict = resp.Conflict
	a.mu.Unlock()
	if resp.Conflict != "" {
		a.log.Error("the collector flagged this enrollment: an administrator must merge or retire this host", "host_id", resp.HostID, "conflict", resp.Conflict)
	} else {
		a.log.Info("enrolled", "host_id", resp.HostID, "host_key_bound", hk != nil)
	}
	return resp.NodeKey, nil
}
