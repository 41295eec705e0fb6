package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
)

// NodeKeyHeader carries the node key on GET /api/v1/policy, as the
// collector documents it (server.NodeKeyHeader; docs/collector.md). Report
// and enroll bodies carry the node key themselves: it is sent in no other
// header, so a collector that also accepts "Authorization: Bearer" for
// dashboard tokens never mistakes it for one.
const NodeKeyHeader = "X-Anchorwatch-Node-Key"

// MaxPolicyBytes bounds a signed policy blob, fetched or stored.
const MaxPolicyBytes = 2 << 20

// maxWaitAnswer bounds the answer to a policy wait.
const maxWaitAnswer = 64 << 10

// waitDeadline bounds a policy wait: the collector's longest hold (7/6
// of api.PolicyWaitMax), its wake-up spread and a margin.
const waitDeadline = api.PolicyWaitMax*7/6 + 45*time.Second

// EnrollRequest is what Enroll sends.
type EnrollRequest struct {
	Secret string
	Facts  api.HostFacts
	// HostKey, when set, signs the enrollment (api.EnrollProof).
	HostKey ed25519.PrivateKey
	// NodeKey is the node key held, if any.
	NodeKey string
}

// Enroll exchanges the enroll secret and host facts (and the proof of the
// host key) for a node key.
func (c *Client) Enroll(ctx context.Context, r EnrollRequest) (api.EnrollResponse, error) {
	req := api.EnrollRequest{EnrollSecret: r.Secret, Host: r.Facts, NodeKey: r.NodeKey}
	if r.HostKey != nil {
		req.HostKey, req.Proof = enrollProof(r.HostKey, r.Facts.MachineID, c.Now())
	}
	var out api.EnrollResponse
	err := c.do(ctx, http.MethodPost, api.PathEnroll, nil, req, &out)
	if err == nil && out.NodeKey == "" {
		err = errors.New("enroll: the collector returned no node key")
	}
	return out, err
}

// enrollProof signs an enrollment of machineID with key k at time t.
func enrollProof(k ed25519.PrivateKey, machineID string, t time.Time) (hostKey string, p *api.EnrollProof) {
	der, _ := x509.MarshalPKIXPublicKey(k.Public())
	hostKey = base64.StdEncoding.EncodeToString(der)
	n := make([]byte, 32)
	_, _ = rand.Read(n)
	nonce := hex.EncodeToString(n)
	sig := ed25519.Sign(k, api.EnrollMessage(machineID, hostKey, t, nonce))
	return hostKey, &api.EnrollProof{Time: t.UTC(), Nonce: nonce, Signature: base64.StdEncoding.EncodeToString(sig)}
}

// Report sends one report; the node key travels in its body. The
// collector's refusal of the report as invalid is a *RefusedError.
func (c *Client) Report(ctx context.Context, r api.ReportRequest) (api.ReportResponse, error) {
	var out api.ReportResponse
	err := c.do(ctx, http.MethodPost, api.PathReport, nil, r, &out)
	var ae *APIError
	if errors.As(err, &ae) && ae.Collector && api.Refused(ae.Status, ae.Code) {
		err = fmt.Errorf("report %s: %w", r.ReportID, &RefusedError{ae})
	}
	return out, err
}

// Reach sends a reachability report.
func (c *Client) Reach(ctx context.Context, r api.ReachReport) error {
	var out api.ReachResponse
	return c.do(ctx, http.MethodPost, api.PathReach, nil, r, &out)
}

// Policy fetches the signed policy blob; it is verified by the caller.
// With etag set (the ETag of a blob fetched before) an unchanged policy
// answers ErrNotModified without a body. It returns the blob's ETag.
func (c *Client) Policy(ctx context.Context, nodeKey, etag string) (blob []byte, newETag string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+api.PathPolicy, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set(NodeKeyHeader, nodeKey)
	req.Header.Set("Accept", "application/pkcs7-mime")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, body, err := c.send(c.http, req, MaxPolicyBytes+1)
	if err != nil {
		return nil, "", fmt.Errorf("fetch policy: %w", err)
	}
	if resp.StatusCode == http.StatusNotModified {
		return nil, etag, ErrNotModified
	}
	if resp.StatusCode/100 != 2 {
		ae := apiError(resp, body)
		if ae.Said(api.ErrNotFound) {
			return nil, "", ErrNoPolicy
		}
		return nil, "", fmt.Errorf("fetch policy: %w", ae)
	}
	if len(body) > MaxPolicyBytes {
		return nil, "", fmt.Errorf("fetch policy: over %d bytes", MaxPolicyBytes)
	}
	return body, resp.Header.Get("ETag"), nil
}

// WaitPolicy holds a request open at the collector until it serves a
// policy serial above held, and returns that serial; 0 (and no error)
// when the collector's hold passed with none. A collector without the
// endpoint answers ErrWaitUnsupported; one with too many waiters an
// *APIError with RetryAfter.
func (c *Client) WaitPolicy(ctx context.Context, nodeKey string, held int64) (int64, error) {
	u := c.base + api.PathPolicyWait + "?serial=" + strconv.FormatInt(held, 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set(NodeKeyHeader, nodeKey)
	resp, body, err := c.send(c.wait, req, maxWaitAnswer)
	if err != nil {
		return 0, fmt.Errorf("wait for a policy: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return 0, nil
	case resp.StatusCode == http.StatusNotFound:
		return 0, ErrWaitUnsupported
	case resp.StatusCode/100 != 2:
		return 0, fmt.Errorf("wait for a policy: %w", apiError(resp, body))
	}
	var out api.PolicyWaitResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return 0, fmt.Errorf("wait for a policy: %w: %w", ErrBadAnswer, err)
	}
	return out.PolicySerial, nil
}
