package server

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/server/db"
)

// errProof is a host key proof the collector refuses (401
// enroll_proof_invalid); the message says what is wrong.
type errProof struct{ msg string }

func (e *errProof) Error() string { return e.msg }

// checkHostKey verifies the enroll proof of req at now: the host key is an
// Ed25519 public key, the proof signs api.EnrollMessage with it, its time
// is within api.EnrollProofWindow of now and its nonce is long enough. It
// returns the key in canonical form (base64 of its PKIX DER), "" when the
// request carries none.
func checkHostKey(req *api.EnrollRequest, now time.Time) (string, error) {
	if req.HostKey == "" {
		if req.Proof != nil {
			return "", &errProof{"proof without host_key"}
		}
		return "", nil
	}
	if len(req.HostKey) > 512 {
		return "", &errProof{"host_key: too long"}
	}
	der, err := base64.StdEncoding.DecodeString(req.HostKey)
	if err != nil {
		return "", &errProof{"host_key: not base64"}
	}
	pk, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return "", &errProof{"host_key: not a PKIX public key"}
	}
	pub, ok := pk.(ed25519.PublicKey)
	if !ok {
		return "", &errProof{fmt.Sprintf("host_key: %T; want an Ed25519 key", pk)}
	}
	p := req.Proof
	if p == nil {
		return "", &errProof{"host_key given without a proof: sign the enrollment with the host key"}
	}
	if skew := now.Sub(p.Time); skew > api.EnrollProofWindow || skew < -api.EnrollProofWindow {
		return "", &errProof{fmt.Sprintf("proof time %s is %s from the collector's clock (%s); allowed: %s (the agent takes the collector's time from its Date header)",
			p.Time.UTC().Format(time.RFC3339), skew.Round(time.Second), now.UTC().Format(time.RFC3339), api.EnrollProofWindow)}
	}
	if n, err := hex.DecodeString(p.Nonce); err != nil || len(n) < 16 || len(n) > 64 {
		return "", &errProof{"proof nonce: want 16 to 64 random bytes in hex"}
	}
	sig, err := base64.StdEncoding.DecodeString(p.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return "", &errProof{"proof signature: not an Ed25519 signature in base64"}
	}
	canon := base64.StdEncoding.EncodeToString(der)
	if !ed25519.Verify(pub, api.EnrollMessage(req.Host.MachineID, req.HostKey, p.Time, p.Nonce), sig) {
		return "", &errProof{"proof signature does not verify with host_key"}
	}
	return canon, nil
}

// hostID reads the {id} path value; false when it has answered 400.
func hostID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		badRequest(w, fmt.Errorf("host id %q: not a positive integer", clip(r.PathValue("id"))))
		return 0, false
	}
	return id, true
}

// hostAdminError answers a failed host administration call.
func (s *Server) hostAdminError(w http.ResponseWriter, what string, err error) {
	switch {
	case errors.Is(err, db.ErrNotFound):
		writeError(w, http.StatusNotFound, api.ErrNotFound, err.Error())
	case errors.Is(err, db.ErrNotFlagged):
		writeError(w, http.StatusConflict, api.ErrBadRequest, err.Error()+": only a flagged host (conflict_of set) is merged")
	case errors.Is(err, db.ErrRetired):
		writeError(w, http.StatusConflict, api.ErrBadRequest, err.Error())
	default:
		s.internal(w, what, err)
	}
}

// handleHostRevokeKey revokes a host's node key (admin): its agent
// enrolls again, proving its host key, and keeps its host.
func (s *Server) handleHostRevokeKey(w http.ResponseWriter, r *http.Request) {
	id, ok := hostID(w, r)
	if !ok {
		return
	}
	if err := s.st.RevokeNodeKey(r.Context(), id); err != nil {
		s.hostAdminError(w, "revoke node key", err)
		return
	}
	s.audit(r, "node key revoked", "host_id", id)
	w.WriteHeader(http.StatusNoContent)
}

// handleHostMerge merges a flagged host into the host it conflicts with
// (admin): the re-imaged machine case.
func (s *Server) handleHostMerge(w http.ResponseWriter, r *http.Request) {
	id, ok := hostID(w, r)
	if !ok {
		return
	}
	into, err := s.st.MergeHost(r.Context(), id)
	if err != nil {
		s.hostAdminError(w, "merge host", err)
		return
	}
	s.audit(r, "host merged", "host_id", id, "into", into)
	writeJSON(w, http.StatusOK, api.HostMerged{MergedInto: into})
}

// handleHostDelete deletes a host and its history (admin): a clone, an
// impostor. Its node key stops working. (A decommissioned machine is
// retired instead: handleHostRetire keeps its history.)
func (s *Server) handleHostDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := hostID(w, r)
	if !ok {
		return
	}
	if err := s.st.DeleteHost(r.Context(), id); err != nil {
		s.hostAdminError(w, "delete host", err)
		return
	}
	s.audit(r, "host deleted", "host_id", id)
	w.WriteHeader(http.StatusNoContent)
}

// audit logs an administrative change with who made it.
func (s *Server) audit(r *http.Request, msg string, args ...any) {
	id, _ := IdentityFrom(r.Context())
	s.log.Info(msg, append(args, "by", id.Name)...)
}
