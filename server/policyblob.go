package server

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/server/devices"
	"github.com/anchorwatch/anchorwatch/server/store"
)

// Publishing a policy happens here, for the upload API (handlePolicyPut)
// and the CLI (`collector policy upload`) alike: CheckPolicyUpload reads
// and checks the signed blob, PublishPolicy stores it as the served policy
// and imports its device exemptions.

// PolicyError is a refused policy blob: the upload, not the collector, is
// at fault (HTTP 400; a usage error in the CLI). The text says what to do
// and holds nothing of the collector's own.
type PolicyError struct{ Err error }

func (e *PolicyError) Error() string { return e.Err.Error() }
func (e *PolicyError) Unwrap() error { return e.Err }

func badPolicy(format string, args ...any) error {
	return &PolicyError{Err: fmt.Errorf("policy: "+format, args...)}
}

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
		return "", badPolicy("serial %d expired at %s: agents refuse it; sign a new one (anchorwatch policy sign --valid-for)",
			p.Serial, p.NotAfter.UTC().Format(time.RFC3339))
	}
	return "", nil
}

// ReadPolicyInfo reads the serial and not_after of a signed policy blob,
// as PolicySerial does. The blob is parsed by the policy package's guarded
// parser (policy.Inspect); every error is a *PolicyError.
func ReadPolicyInfo(blob []byte) (PolicyInfo, error) {
	content, err := policy.Inspect(blob)
	if err != nil {
		return PolicyInfo{}, &PolicyError{Err: err}
	}
	var doc struct {
		Serial   *int64     `json:"serial"`
		NotAfter *time.Time `json:"not_after"`
	}
	if err := json.Unmarshal(content, &doc); err != nil {
		return PolicyInfo{}, badPolicy("signed content is not a JSON policy document: %v", err)
	}
	if doc.Serial == nil || *doc.Serial <= 0 {
		return PolicyInfo{}, badPolicy("signed document has no positive \"serial\"")
	}
	return PolicyInfo{Serial: *doc.Serial, NotAfter: doc.NotAfter}, nil
}

// PolicyUpload is a signed policy blob that passed CheckPolicyUpload.
type PolicyUpload struct {
	Blob []byte
	Info PolicyInfo
	// Warning is for the uploader (CheckUpload), e.g. no not_after.
	Warning string
}

// CheckPolicyUpload reads and checks a signed policy blob for publishing
// at now. Every error is a *PolicyError.
func CheckPolicyUpload(blob []byte, now time.Time) (*PolicyUpload, error) {
	info, err := ReadPolicyInfo(blob)
	if err != nil {
		return nil, err
	}
	warning, err := info.CheckUpload(now)
	if err != nil {
		return nil, err
	}
	return &PolicyUpload{Blob: blob, Info: info, Warning: warning}, nil
}

// ExemptionImporter imports the device exemptions of a policy just stored.
type ExemptionImporter func(ctx context.Context, serial int64, blob []byte) (devices.PolicyImport, error)

// StoreExemptions imports into the device tables of st's database: for a
// publisher without a running collector (the CLI).
func StoreExemptions(st *store.Store) ExemptionImporter {
	return func(ctx context.Context, serial int64, blob []byte) (devices.PolicyImport, error) {
		d, err := devices.Open(ctx, st.DB(), st.ReadDB(), devices.Dialect(st.Dialect()))
		if err != nil {
			return devices.PolicyImport{Serial: serial}, err
		}
		return d.ImportPolicy(ctx, serial, blob)
	}
}

// Publication is what PublishPolicy did.
type Publication struct {
	Serial int64
	// Exemptions is the import of the policy's device exemptions, unless
	// ExemptionsErr says why they were not imported: the policy is stored
	// either way, and the import is retried (next upload, next device
	// query).
	Exemptions    devices.PolicyImport
	ExemptionsErr error
}

// PublishPolicy stores up as the policy the collector serves and imports
// its device exemptions through imp. A serial not above the served one is
// store.ErrStaleSerial; a database error is returned as is (see
// store.IsUnavailable).
func PublishPolicy(ctx context.Context, st *store.Store, up *PolicyUpload, imp ExemptionImporter) (Publication, error) {
	pub := Publication{Serial: up.Info.Serial}
	if err := st.PutPolicy(ctx, pub.Serial, up.Blob); err != nil {
		return pub, err
	}
	pub.Exemptions, pub.ExemptionsErr = imp(ctx, pub.Serial, up.Blob)
	return pub, nil
}
