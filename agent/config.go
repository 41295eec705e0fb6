package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/anchorwatch/anchorwatch/policy"
	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// DefaultStateDir holds the agent's state on Unix systems.
const DefaultStateDir = "/var/lib/anchorwatch-agent"

// Config is the agent's configuration file (JSON). Paths are host paths.
type Config struct {
	// CollectorURL is the collector's base URL, e.g. https://collector.example:8443.
	CollectorURL string `json:"collector_url"`
	// EnrollSecret or EnrollSecretFile (preferred: keep the secret out of
	// a world-readable config) authenticates the first enrollment.
	EnrollSecret     string `json:"enroll_secret,omitempty"`
	EnrollSecretFile string `json:"enroll_secret_file,omitempty"`
	// CollectorCAFile pins the CA that issued the collector's certificate;
	// CollectorFingerprint pins a certificate of the collector's chain by
	// the SHA-256 of its DER. One of them is required for https.
	CollectorCAFile      string `json:"collector_ca_file,omitempty"`
	CollectorFingerprint string `json:"collector_fingerprint,omitempty"`
	// AllowPlainHTTP permits an http:// collector URL (tests, a collector
	// behind a local TLS-terminating proxy). Off by default.
	AllowPlainHTTP bool `json:"allow_plain_http,omitempty"`
	// PolicySignerFile is the pinned policy signer certificate (PEM/DER),
	// or several (a PEM bundle) for m-of-n signing.
	PolicySignerFile string `json:"policy_signer_file"`
	// PolicySignaturesRequired is m: how many of the pinned signers must
	// sign a policy that changes more than serial, validity and
	// intervals (policy.TrustChanges). Default 1.
	PolicySignaturesRequired int `json:"policy_signatures_required,omitempty"`
	// MinPolicySerial is the lowest policy serial the agent accepts,
	// whatever it holds: an installer sets it to the serial published
	// when it was built, so a fresh or re-imaged host (holding no policy)
	// never takes an older signed policy a compromised collector replays.
	MinPolicySerial int64 `json:"min_policy_serial,omitempty"`
	// StateDir holds the node key, the last good policy, the spool.
	StateDir string `json:"state_dir,omitempty"`
	// Root is the directory the host's filesystem is looked up under
	// ("/" for the running host); --root overrides it.
	Root string `json:"root,omitempty"`
	// Stores limits the store kinds managed (empty: every kind).
	Stores []stores.Kind `json:"stores,omitempty"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `json:"log_level,omitempty"`
	// HeartbeatInterval and RescanInterval override the policy's.
	HeartbeatInterval policy.Duration `json:"heartbeat_interval,omitempty"`
	RescanInterval    policy.Duration `json:"rescan_interval,omitempty"`
	// SpoolMaxReports and SpoolMaxBytes bound the offline spool.
	SpoolMaxReports int   `json:"spool_max_reports,omitempty"`
	SpoolMaxBytes   int64 `json:"spool_max_bytes,omitempty"`
	// ReachInterval is how often the agent probes the CRL distribution
	// points and OCSP responders of the policy's CAs (reach.go); default
	// 1h, negative turns the probe off.
	ReachInterval policy.Duration `json:"reach_interval,omitempty"`
	// PolicyLongPoll keeps a policy wait open at the collector so a new
	// policy applies within seconds (policywait.go); default true, false
	// fetches the policy at heartbeats and rescans only.
	PolicyLongPoll *bool `json:"policy_long_poll,omitempty"`
}

// longPoll reports whether the agent keeps a policy wait open.
func (c *Config) longPoll() bool { return c.PolicyLongPoll == nil || *c.PolicyLongPoll }

// maxConfig bounds the config file.
const maxConfig = 1 << 20

// LoadConfig reads and checks a config file. Unknown keys are an error
// naming the key; every error names its field.
func LoadConfig(path string) (*Config, error) {
	data, err := readBounded(path, maxConfig)
	if err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("agent config %s: %w", path, err)
	}
	// Relative paths in the config are relative to the config file.
	base := filepath.Dir(path)
	for _, p := range []*string{&c.EnrollSecretFile, &c.CollectorCAFile, &c.PolicySignerFile, &c.StateDir, &c.Root} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	return c, nil
}

// ParseConfig decodes a config strictly and checks it.
func ParseConfig(data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) check() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &policy.FieldError{Field: field, Err: fmt.Errorf(format, args...)})
	}
	u, err := url.Parse(c.CollectorURL)
	switch {
	case c.CollectorURL == "":
		bad("collector_url", "missing (e.g. https://collector.example:8443)")
	case err != nil || u.Host == "":
		bad("collector_url", "%q is not a URL", c.CollectorURL)
	case u.Scheme == "http" && !c.AllowPlainHTTP:
		bad("collector_url", "http:// sends the node key in clear; use https, or set allow_plain_http")
	case u.Scheme != "http" && u.Scheme != "https":
		bad("collector_url", "scheme %q: want https", u.Scheme)
	case u.Scheme == "https" && c.CollectorCAFile == "" && c.CollectorFingerprint == "":
		bad("collector_ca_file", "pin the collector: give collector_ca_file or collector_fingerprint")
	}
	if c.CollectorFingerprint != "" {
		if fp, ok := stores.NormalizeSHA256(c.CollectorFingerprint); ok {
			c.CollectorFingerprint = fp
		} else {
			bad("collector_fingerprint", "not a SHA-256 fingerprint (64 hex digits)")
		}
	}
	if c.EnrollSecret == "" && c.EnrollSecretFile == "" {
		bad("enroll_secret", "give enroll_secret or enroll_secret_file")
	}
	if c.EnrollSecret != "" && c.EnrollSecretFile != "" {
		bad("enroll_secret_file", "give enroll_secret or enroll_secret_file, not both")
	}
	if c.PolicySignerFile == "" {
		bad("policy_signer_file", "missing: the agent accepts only policies signed by this certificate")
	}
	switch strings.ToLower(c.LogLevel) {
	case "", "debug", "info", "warn", "error":
	default:
		bad("log_level", "%q: want debug, info, warn or error", c.LogLevel)
	}
	for i, k := range c.Stores {
		found := false
		for _, kk := range stores.KnownKinds() {
			found = found || k == kk
		}
		if !found {
			bad(fmt.Sprintf("stores[%d]", i), "unknown store kind %q", k)
		}
	}
	if d := time.Duration(c.HeartbeatInterval); d != 0 && d < time.Second {
		bad("heartbeat_interval", "%s is under 1s", d)
	}
	if d := time.Duration(c.RescanInterval); d != 0 && d < time.Second {
		bad("rescan_interval", "%s is under 1s", d)
	}
	if c.MinPolicySerial < 0 {
		bad("min_policy_serial", "negative")
	}
	if c.PolicySignaturesRequired < 0 || c.PolicySignaturesRequired > policy.MaxSignatures {
		bad("policy_signatures_required", "%d is outside 0..%d", c.PolicySignaturesRequired, policy.MaxSignatures)
	}
	if c.SpoolMaxReports < 0 {
		bad("spool_max_reports", "negative")
	}
	if c.SpoolMaxBytes < 0 {
		bad("spool_max_bytes", "negative")
	}
	return errors.Join(errs...)
}

// stateDir returns the state directory, defaulting per platform.
func (c *Config) stateDir() string {
	if c.StateDir != "" {
		return c.StateDir
	}
	if runtime.GOOS == "windows" {
		if pd := os.Getenv("ProgramData"); pd != "" {
			return filepath.Join(pd, "Anchorwatch", "agent")
		}
	}
	return DefaultStateDir
}

// enrollSecret returns the secret, reading the secret file when set.
func (c *Config) enrollSecret() (string, error) {
	if c.EnrollSecretFile == "" {
		return c.EnrollSecret, nil
	}
	b, err := readBounded(c.EnrollSecretFile, maxSecretFile)
	if err != nil {
		return "", fmt.Errorf("enroll secret: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("enroll secret file %s is empty", c.EnrollSecretFile)
	}
	return s, nil
}

// maxSecretFile bounds an enroll secret file; a secret is ~50 bytes.
const maxSecretFile = 64 << 10

// readBounded reads the regular file at path (a symbolic link to it is
// followed: these are root's own files), refusing one over max bytes
// (fsroot.ErrTooLarge) without reading it whole.
func readBounded(path string, max int64) ([]byte, error) {
	return fsroot.ReadFile(path, fsroot.Want{Max: max, Follow: true})
}

// LogLevel returns the slog level of the config.
func (c *Config) Level() slog.Level {
	switch strings.ToLower(c.LogLevel) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
