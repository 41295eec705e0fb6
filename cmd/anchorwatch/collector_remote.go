package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/api/client"
	"github.com/anchorwatch/anchorwatch/server/evidence"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// remoteOptions are the flags of `collector ingest --url`.
type remoteOptions struct {
	url, token, caCert, fingerprint, state string
}

// remoteStore is the evidence.Store of a remote ingest: it parses locally
// and POSTs each batch to the collector's /api/v1/observations.
//
// Exactly once: a batch's id is derived from the file's identity (host,
// format, path and the hash of its first bytes) and the byte offset the
// batch ends at. Before a batch is sent it is written, with the
// checkpoint it leads to, to the local state file; once the collector
// has acknowledged it the checkpoint is recorded and the pending batch
// dropped. A run interrupted in between re-sends the pending batch
// verbatim, with the same id, which the collector acknowledges as a
// duplicate if it already stored it — so a re-run neither loses nor
// doubles observations, even if the file grew meanwhile.
type remoteStore struct {
	endpoint string
	token    string
	client   *client.Client
	host     string
	path     string // state file

	mu    sync.Mutex // guards st; held across a Commit (Follow runs files concurrently)
	st    remoteState
	stats struct{ sent, duplicates int }
}

// remoteState is the local state file.
type remoteState struct {
	Checkpoints map[string]evidence.Checkpoint `json:"checkpoints"`
	// Pending is a batch written ahead of sending: re-sent on the next
	// run if this one stopped before the collector acknowledged it.
	Pending   []api.ObservationBatch `json:"pending,omitempty"`
	PendingCP *evidence.Checkpoint   `json:"pending_checkpoint,omitempty"`
}

// remoteMaxBody keeps a POST well under the collector's 4 MiB limit.
const remoteMaxBody = 3 << 20

func (o remoteOptions) statePath(dataDir string) string {
	if o.state != "" {
		return o.state
	}
	sum := sha256.Sum256([]byte(strings.TrimRight(o.url, "/")))
	return filepath.Join(dataDir, "ingest-"+hex.EncodeToString(sum[:6])+".json")
}

// remoteClient builds the collector client: the collector's certificate
// is checked against --ca-cert, pinned by --fingerprint (api/client's
// pinning rule), or (neither) against the system roots. The environment's
// proxy is used for https only, as a CONNECT tunnel.
func remoteClient(o remoteOptions) (*client.Client, error) {
	if o.caCert != "" && o.fingerprint != "" {
		return nil, usageErr(errors.New("--ca-cert and --fingerprint exclude each other: give one"))
	}
	c, err := client.New(client.Config{URL: o.url, CAFile: o.caCert, Fingerprint: o.fingerprint,
		Proxy: http.ProxyFromEnvironment, Timeout: 2 * time.Minute})
	if err != nil {
		return nil, usageErr(fmt.Errorf("--ca-cert/--fingerprint: %w (give the collector's CA certificate as PEM, or the SHA-256 of its certificate as `collector serve` prints it)", err))
	}
	return c, nil
}

// openRemote loads (or creates) the state file, takes its lock, and sends
// a batch left pending by an interrupted run. Call close when done.
func openRemote(ctx context.Context, o remoteOptions, dataDir string) (*remoteStore, func(), error) {
	if !strings.HasPrefix(o.url, "https://") && !strings.HasPrefix(o.url, "http://") {
		return nil, nil, usageErr(fmt.Errorf("--url %q: use https://collector:8443", o.url))
	}
	if strings.HasPrefix(o.url, "http://") && !loopbackURL(o.url) {
		return nil, nil, usageErr(fmt.Errorf("--url %q: plain http would send the admin token in clear; use https:// (plain http is accepted for a collector on this machine's loopback only)", o.url))
	}
	if o.token == "" {
		return nil, nil, usageErr(errors.New("--url needs an admin API token (`collector token add NAME --role admin`): give --token-file FILE or set " + envToken))
	}
	cl, err := remoteClient(o)
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	r := &remoteStore{endpoint: cl.URL(api.PathObservations), token: o.token, client: cl,
		host: host, path: o.statePath(dataDir), st: remoteState{Checkpoints: map[string]evidence.Checkpoint{}}}
	if err := os.MkdirAll(filepath.Dir(r.path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("ingest state directory: %w", err)
	}
	lock := r.path + ".lock"
	if f, err := os.OpenFile(lock, os.O_CREATE|os.O_RDONLY, 0o600); err != nil {
		return nil, nil, fmt.Errorf("ingest state lock: %w", err)
	} else {
		f.Close()
	}
	unlock, err := fsroot.Lock(lock) // another ingest into the same state waits
	if err != nil {
		return nil, nil, err
	}
	data, err := os.ReadFile(r.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		unlock()
		return nil, nil, fmt.Errorf("read ingest state %s: %w", r.path, err)
	default:
		if err := json.Unmarshal(data, &r.st); err != nil {
			unlock()
			return nil, nil, fmt.Errorf("ingest state %s is corrupt: %w (delete it to send every file again; the collector drops batches it already has only within its 30-day batch retention)", r.path, err)
		}
		if r.st.Checkpoints == nil {
			r.st.Checkpoints = map[string]evidence.Checkpoint{}
		}
	}
	if len(r.st.Pending) > 0 {
		if err := r.flushPending(ctx); err != nil {
			unlock()
			return nil, nil, err
		}
	}
	return r, unlock, nil
}

func (r *remoteStore) save() error {
	data, err := json.Marshal(r.st)
	if err != nil {
		return err
	}
	if err := fsroot.WriteFileAtomic(r.path, data, 0o600); err != nil {
		return fmt.Errorf("write ingest state: %w", err)
	}
	return nil
}

// LoadCheckpoint implements evidence.Store.
func (r *remoteStore) LoadCheckpoint(_ context.Context, key string) (evidence.Checkpoint, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cp, ok := r.st.Checkpoints[key]
	return cp, ok, nil
}

// Commit implements evidence.Store: it sends obs and records cp once the
// collector has acknowledged them.
func (r *remoteStore) Commit(ctx context.Context, obs []evidence.Observation, cp evidence.Checkpoint) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.Pending, r.st.PendingCP = r.batches(obs, cp), &cp
	if len(r.st.Pending) > 0 {
		if err := r.save(); err != nil {
			return err
		}
	}
	return r.flushPending(ctx)
}

// batches converts obs into API batches under the collector's limits,
// with ids derived from the file's identity and cp.Offset.
func (r *remoteStore) batches(obs []evidence.Observation, cp evidence.Checkpoint) []api.ObservationBatch {
	id := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d\x00%s", r.host, cp.Key, cp.PrefixLen, cp.PrefixHash)))
	base := fmt.Sprintf("aw-ingest:%s:%d", hex.EncodeToString(id[:12]), cp.Offset)
	all := make([]api.Observation, len(obs))
	for i, o := range obs {
		a := api.Observation{MAC: o.MAC, Hostname: o.Hostname, SeenAt: o.Time, LastSeen: o.Last, Count: o.Count,
			Source: o.Source, Evidence: o.Evidence, LeaseEnd: o.LeaseEnd}
		if o.IP.IsValid() {
			a.IP = o.IP.String()
		}
		all[i] = a
	}
	var out []api.ObservationBatch
	for len(all) > 0 {
		n := min(len(all), api.MaxObservations)
		for n > 1 {
			if body, _ := json.Marshal(all[:n]); len(body) <= remoteMaxBody {
				break
			}
			n /= 2
		}
		out = append(out, api.ObservationBatch{Observations: all[:n]})
		all = all[n:]
	}
	for i := range out {
		out[i].BatchID = base
		if len(out) > 1 {
			out[i].BatchID = fmt.Sprintf("%s:%d", base, i)
		}
	}
	return out
}

// flushPending sends the pending batches, then records their checkpoint.
func (r *remoteStore) flushPending(ctx context.Context) error {
	for len(r.st.Pending) > 0 {
		dup, err := r.post(ctx, r.st.Pending[0])
		if err != nil {
			return err
		}
		r.stats.sent++
		if dup {
			r.stats.duplicates++
		}
		r.st.Pending = r.st.Pending[1:]
	}
	r.st.Pending = nil
	if r.st.PendingCP != nil {
		r.st.Checkpoints[r.st.PendingCP.Key] = *r.st.PendingCP
		r.st.PendingCP = nil
	}
	return r.save()
}

// post sends one batch, retrying transient failures (network errors,
// 5xx, 429) a few times; a refused certificate is never retried.
func (r *remoteStore) post(ctx context.Context, b api.ObservationBatch) (duplicate bool, err error) {
	wait := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ack, err := r.client.PostObservations(ctx, r.token, b)
		if err == nil {
			return ack.Duplicate, nil
		}
		if !retryable(err) || attempt == 4 || ctx.Err() != nil {
			return false, fmt.Errorf("send batch %s to %s: %w (the batch is kept and sent again by the next run)", b.BatchID, r.endpoint, explainPin(err))
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// retryable reports whether sending again may succeed: a network error or
// a transient answer (5xx, 429), not a refused certificate, an answer
// that does not decode or another answer of the collector.
func retryable(err error) bool {
	var ae *client.APIError
	switch {
	case errors.Is(err, client.ErrCertificate), errors.Is(err, client.ErrBadAnswer):
		return false
	case errors.As(err, &ae):
		return ae.Transient()
	}
	return true
}

// explainPin names the flag a pin mismatch comes from.
func explainPin(err error) error {
	if errors.Is(err, client.ErrPinMismatch) {
		return fmt.Errorf("%w: the collector's certificate does not match --fingerprint", err)
	}
	return err
}

// loopbackURL reports whether u names a host on this machine's loopback
// (localhost, 127.0.0.0/8, ::1), the only place plain http is accepted.
func loopbackURL(u string) bool {
	pu, err := url.Parse(u)
	if err != nil {
		return false
	}
	h := pu.Hostname()
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}
