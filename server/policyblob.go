package server

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"go.mozilla.org/pkcs7"
)

// PolicySerial reads the serial of a signed policy blob (PKCS#7
// SignedData, attached content, DER or PEM) without altering it. The
// signature must verify against the certificate the blob carries, so a
// truncated or corrupted upload is refused; trust in the signer is the
// agents' business (they pin it), never the collector's.
func PolicySerial(blob []byte) (int64, error) {
	der := blob
	if b := bytes.TrimSpace(blob); bytes.HasPrefix(b, []byte("-----BEGIN")) {
		p, _ := pem.Decode(b)
		if p == nil {
			return 0, errors.New("policy: PEM block is malformed")
		}
		der = p.Bytes
	}
	p7, err := parsePKCS7(der)
	if err != nil {
		return 0, fmt.Errorf("policy: not a PKCS#7 SignedData blob: %v", err)
	}
	if len(p7.Content) == 0 {
		return 0, errors.New("policy: PKCS#7 has no attached content: sign with the content attached")
	}
	if len(p7.Signers) == 0 {
		return 0, errors.New("policy: PKCS#7 is not signed")
	}
	if err := p7.Verify(); err != nil {
		return 0, fmt.Errorf("policy: signature does not verify against its own certificate (corrupted or tampered blob): %v", err)
	}
	var doc struct {
		Serial *int64 `json:"serial"`
	}
	if err := json.Unmarshal(p7.Content, &doc); err != nil {
		return 0, fmt.Errorf("policy: signed content is not a JSON policy document: %v", err)
	}
	if doc.Serial == nil || *doc.Serial <= 0 {
		return 0, errors.New("policy: signed document has no positive \"serial\"")
	}
	return *doc.Serial, nil
}

// parsePKCS7 guards the parser against panics on hostile input.
func parsePKCS7(der []byte) (p *pkcs7.PKCS7, err error) {
	defer func() {
		if v := recover(); v != nil {
			p, err = nil, fmt.Errorf("malformed PKCS#7: %v", v)
		}
	}()
	return pkcs7.Parse(der)
}
