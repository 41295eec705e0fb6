package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/agent"
	"github.com/anchorwatch/anchorwatch/installers"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// configureOptions are the flags of `agent configure`, which the MSI runs
// as LocalSystem after copying its files (see installers/msi.go).
type configureOptions struct {
	config        string // the agent config to write
	packageConfig string // the package's config it starts from
	// Install-time settings (the MSI's public properties); empty: keep
	// what an earlier install set, else the package's.
	collectorURL, collectorFingerprint, enrollSecretFile string
	purge                                                bool
}

// msiProperties are the settings given at install time, kept beside the
// config so an upgrade (which installs the new package's config) applies
// them again.
type msiProperties struct {
	CollectorURL         string `json:"collector_url,omitempty"`
	CollectorFingerprint string `json:"collector_fingerprint,omitempty"`
	// EnrollSecretCopied: ENROLL_SECRET_FILE was given and copied to
	// installers.MSIPropertySecretName.
	EnrollSecretCopied bool `json:"enroll_secret_copied,omitempty"`
}

func newAgentConfigureCmd(cfgPath *string) *cobra.Command {
	var o configureOptions
	c := &cobra.Command{
		Use:   "configure --config FILE --package-config FILE [--collector-url URL] [--collector-fingerprint HEX] [--enroll-secret-file FILE] | --purge",
		Short: "Write the agent config from a package's config and install-time settings (the MSI runs it)",
		Long: `Write the agent config (--config) from the package's config (--package-config) and
the settings given at install time, and restrict the config directory to the
system (on Windows: SYSTEM and Administrators only). The MSI runs it as
LocalSystem with its public properties COLLECTOR_URL, COLLECTOR_FINGERPRINT and
ENROLL_SECRET_FILE; settings given once are kept for later upgrades. The
enroll secret file is copied (it may be removed afterwards); the secret itself
is never an argument. --purge removes what configure wrote and the agent's
state (the MSI runs it on uninstall).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.config = *cfgPath
			if o.config == "" {
				return usageErr(errors.New("--config FILE is required"))
			}
			if o.purge {
				return purgeAgentConfig(o.config)
			}
			if o.packageConfig == "" {
				return usageErr(errors.New("--package-config FILE is required"))
			}
			if err := configureAgent(o); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "agent config written: %s\n", o.config)
			return nil
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.packageConfig, "package-config", "", "the package's agent config `FILE` to start from")
	fl.StringVar(&o.collectorURL, "collector-url", "", "collector `URL` (https://host:port)")
	fl.StringVar(&o.collectorFingerprint, "collector-fingerprint", "", "SHA-256 `HEX` of the collector's certificate to pin")
	fl.StringVar(&o.enrollSecretFile, "enroll-secret-file", "", "`FILE` holding the enroll secret; it is copied beside the config")
	fl.BoolVar(&o.purge, "purge", false, "remove what configure wrote and the agent's state")
	return c
}

// configureAgent writes the config, the copied secret and the kept
// settings; it checks everything before writing anything.
func configureAgent(o configureOptions) error {
	dir := filepath.Dir(o.config)
	if err := secureConfigDir(dir); err != nil {
		return fmt.Errorf("agent configure: %w", err)
	}
	propsPath := filepath.Join(dir, installers.MSIPropertiesName)
	props, err := loadMSIProperties(propsPath)
	if err != nil {
		return err
	}
	if o.collectorURL != "" {
		props.CollectorURL = o.collectorURL
	}
	if o.collectorFingerprint != "" {
		props.CollectorFingerprint = o.collectorFingerprint
	}
	var secret []byte
	secretPath := filepath.Join(dir, installers.MSIPropertySecretName)
	if o.enrollSecretFile != "" {
		if secret, err = readSecretToCopy(o.enrollSecretFile); err != nil {
			return fmt.Errorf("agent configure: --enroll-secret-file: %w", err)
		}
		props.EnrollSecretCopied = true
	} else if props.EnrollSecretCopied {
		if _, err := os.Stat(secretPath); err != nil {
			return fmt.Errorf("agent configure: the enroll secret copied at an earlier install is gone (%w): pass ENROLL_SECRET_FILE again", err)
		}
	}
	cfg, err := mergeAgentConfig(o.packageConfig, props, secretPath)
	if err != nil {
		return err
	}
	if err := checkConfigured(cfg, o.config); err != nil {
		return err
	}
	kept, err := json.MarshalIndent(props, "", "  ")
	if err != nil {
		return err
	}
	if secret != nil {
		if err := fsroot.WriteFileAtomic(secretPath, secret, 0o600); err != nil {
			return fmt.Errorf("agent configure: %w", err)
		}
	}
	if err := fsroot.WriteFileAtomic(o.config, cfg, 0o600); err != nil {
		return fmt.Errorf("agent configure: %w", err)
	}
	return fsroot.WriteFileAtomic(propsPath, append(kept, '\n'), 0o600)
}

func loadMSIProperties(path string) (msiProperties, error) {
	var p msiProperties
	data, err := readLimitedFile(path, 64<<10)
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("agent configure: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("agent configure: %s: %w (remove it and pass the properties again)", path, err)
	}
	return p, nil
}

// mergeAgentConfig is the package's config with the install-time settings
// applied; keys it does not know stay as they are.
func mergeAgentConfig(packageConfig string, p msiProperties, secretPath string) ([]byte, error) {
	data, err := readLimitedFile(packageConfig, 1<<20)
	if err != nil {
		return nil, usageErr(fmt.Errorf("agent configure: --package-config: %w", err))
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil || doc == nil {
		return nil, usageErr(fmt.Errorf("agent configure: --package-config %s: not a JSON object (%v)", packageConfig, err))
	}
	set := func(key, value string) {
		b, _ := json.Marshal(value)
		doc[key] = b
	}
	if p.CollectorURL != "" {
		set("collector_url", p.CollectorURL)
	}
	if p.CollectorFingerprint != "" {
		set("collector_fingerprint", p.CollectorFingerprint)
	}
	if p.EnrollSecretCopied {
		set("enroll_secret_file", secretPath)
		delete(doc, "enroll_secret")
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// checkConfigured refuses a config the agent would refuse, read as the
// agent will read it from path (relative file names beside it).
func checkConfigured(cfg []byte, path string) error {
	c, err := agent.ParseConfig(cfg)
	if err != nil {
		return fmt.Errorf("agent configure: the resulting config: %w", err)
	}
	signer := c.PolicySignerFile
	if !filepath.IsAbs(signer) {
		signer = filepath.Join(filepath.Dir(path), signer)
	}
	if _, err := os.Stat(signer); err != nil {
		return fmt.Errorf("agent configure: policy signer: %w", err)
	}
	return nil
}

// readSecretToCopy reads an enroll secret: a regular file, not a link (a
// link planted where the admin's path points would make us copy another
// file, as root, into the secret sent to the collector), checked again on
// the open file (a pipe or device would block or never end), at most 64
// KiB, not empty.
func readSecretToCopy(path string) ([]byte, error) {
	data, err := fsroot.ReadFile(path, fsroot.Want{Max: 64 << 10, OneLink: true})
	switch {
	case errors.Is(err, fsroot.ErrSymlink), errors.Is(err, fsroot.ErrNotRegular):
		return nil, fmt.Errorf("%s is not a regular file (a link, pipe or device?)", path)
	case errors.Is(err, fsroot.ErrHardLinked):
		return nil, fmt.Errorf("%s has more hard links than one: copy the secret into a file of its own", path)
	case errors.Is(err, fsroot.ErrTooLarge):
		return nil, fmt.Errorf("%s is over 64 KiB: not an enroll secret", path)
	case err != nil:
		return nil, err
	}
	if strings.TrimSpace(string(data)) == "" {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return data, nil
}

// purgeAgentConfig removes what configure wrote and the agent's state
// directory (the default one beside the config, or the config's own when
// it lies inside the config directory). Nothing outside the config
// directory is removed.
func purgeAgentConfig(config string) error {
	dir := filepath.Dir(config)
	if err := refuseLink(dir); err != nil {
		return fmt.Errorf("agent configure: %w", err)
	}
	states := []string{filepath.Join(dir, "agent")}
	if c, err := agent.LoadConfig(config); err == nil && c.StateDir != "" {
		if rel, err := filepath.Rel(dir, c.StateDir); err == nil && rel != "." && !strings.HasPrefix(rel, "..") && !filepath.IsAbs(rel) {
			states = append(states, c.StateDir)
		}
	}
	var errs []error
	for _, p := range states {
		if err := removeTree(p); err != nil {
			errs = append(errs, err)
		}
	}
	for _, name := range []string{installers.ConfigName, installers.MSIPropertiesName, installers.MSIPropertySecretName} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// refuseLink refuses a directory that is a symbolic link, junction or
// other reparse point: whoever planted it would choose where we write or
// delete.
func refuseLink(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if fi.Mode()&(os.ModeSymlink|os.ModeIrregular) != 0 || !fi.IsDir() {
		return fmt.Errorf("%s is not a plain directory (a link or junction?): remove it and install again", dir)
	}
	return nil
}

// removeTree removes the directory tree at root, links as links, deepest
// first. (os.RemoveAll deletes through a handle-relative call that Wine 8
// refuses with "Invalid function"; plain deletes work everywhere.)
func removeTree(root string) error {
	var paths []string
	err := filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for i := len(paths) - 1; i >= 0; i-- {
		if err := os.Remove(paths[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
