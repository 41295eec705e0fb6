package server

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"go.mozilla.org/pkcs7"

	"github.com/anchorwatch/anchorwatch/policy"
)

// PolicySerial reads the serial of a signed policy blob (PKCS#7
// SignedData, attached content, DER or PEM) without altering it. The
// signature must verify against the certificate the blob carries, so a
// truncated or corrupted upload is refused; trust in the signer is the
// agents' business (they pin it), never the collector's.
func PolicySerial(blob []byte) (int64, error) {
	info, err := ReadPolicyInfo(blob)
	return info.Serial, err
}

// PolicyInfo is what the collector reads of a signed policy blob.
type PolicyInfo struct {
	Serial int64
	// NotAfter is the policy's not_after; nil when it has none (agents
	// refuse such a policy: it was signed before policies expired).
	NotAfter *time.Time
}

// CheckUpload refuses a policy that agents would refuse for its age
// alone: past its not_after at now. It returns a warning for one without
// not_after.
func (p PolicyInfo) CheckUpload(now time.Time) (warning string, err error) {
	switch {
	case p.NotAfter == nil:
		return "the policy has no not_after: agents refuse it; sign it with `anchorwatch policy sign` of this version", nil
	case now.After(*p.NotAfter):
		return "", fmt.Errorf("policy serial %d expired at %s: agents refuse it; sign a new one (anchorwatch policy sign --valid-for)",
			p.Serial, p.NotAfter.UTC().Format(time.RFC3339))
	}
	return "", nil
}

// ReadPolicyInfo reads the serial and not_after of a signed policy blob,
// as PolicySerial does.
func ReadPolicyInfo(blob []byte) (PolicyInfo, error) {
	der := blob
	if b := bytes.TrimSpace(blob); bytes.HasPrefix(b, []byte("-----BEGIN")) {
		p, _ := pem.Decode(b)
		if p == nil {
			return PolicyInfo{}, errors.New("policy: PEM block is malformed")
		}
		der = p.Bytes
	}
	p7, err := parsePKCS7(der)
	if err != nil {
		return PolicyInfo{}, fmt.Errorf("policy: not a PKCS#7 SignedData blob: %v", err)
	}
	if len(p7.Content) == 0 {
		return PolicyInfo{}, errors.New("policy: PKCS#7 has no attached content: sign with the content attached")
	}
	if len(p7.Signers) == 0 {
		return PolicyInfo{}, errors.New("policy: PKCS#7 is not signed")
	}
	if err := p7.Verify(); err != nil {
		return PolicyInfo{}, fmt.Errorf("policy: signature does not verify against its own certificate (corrupted or tampered blob): %v", err)
	}
	var doc struct {
		Serial   *int64     `json:"serial"`
		NotAfter *time.Time `json:"not_after"`
	}
	if err := json.Unmarshal(p7.Content, &doc); err != nil {
		return PolicyInfo{}, fmt.Errorf("policy: signed content is not a JSON policy document: %v", err)
	}
	if doc.Serial == nil || *doc.Serial <= 0 {
		return PolicyInfo{}, errors.New("policy: signed document has no positive \"serial\"")
	}
	return PolicyInfo{Serial: *doc.Serial, NotAfter: doc.NotAfter}, nil
}

// parsePKCS7 guards the parser against panics on hostile input.
func parsePKCS7(der []byte) (p *pkcs7.PKCS7, err error) {
	defer func() {
		if v := recover(); v != nil {
			p, err = nil, fmt.Errorf("malformed PKCS#7: %v", v)
		}
	}()
	if err := policy.CheckBER(der); err != nil {
		return nil, err
	}
	return pkcs7.Parse(der)
}
