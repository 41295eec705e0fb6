package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/anchorwatch/anchorwatch/stores"
	"github.com/anchorwatch/anchorwatch/stores/probe"
)

// probeOutput is the "probe" part of `anchorwatch audit --probe URL`.
type probeOutput struct {
	URL     string         `json:"url"`
	OK      bool           `json:"ok"`
	Results []probe.Result `json:"results"`
}

// checkProbeURL accepts an https URL with a host; the probe runs the
// host's own programs, so only on the running host (--root /).
func checkProbeURL(raw string, env stores.Env) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return usageErr(fmt.Errorf("--probe %q: want an https:// URL, e.g. https://www.example.com", raw))
	}
	if !probe.LiveRoot(env.Root) {
		return usageErr(errors.New("--probe runs this host's programs: it cannot be combined with --root"))
	}
	return nil
}

// runProbe runs every runtime found against raw, with the environment a
// login session gets and the caller's proxy variables.
func runProbe(ctx context.Context, env stores.Env, raw string) *probeOutput {
	rts := probe.Runtimes(ctx, env)
	res := probe.RunAll(ctx, rts, raw, probe.SessionEnv(ctx, env))
	out := &probeOutput{URL: raw, OK: len(res) > 0, Results: res}
	for _, r := range res {
		if r.Outcome != probe.Trusted {
			out.OK = false
		}
	}
	return out
}

func printProbe(w io.Writer, l layout, po *probeOutput) {
	t := newTable(col("RUNTIME"), idCol("PATH"), col("OWNER"), col("RESULT"), textCol("DETAIL"))
	bad := 0
	for _, r := range po.Results {
		if r.Outcome != probe.Trusted {
			bad++
		}
		owner := r.Owner
		if owner == "" {
			owner = "-"
		}
		t.row(r.Name, r.Path, owner, string(r.Outcome), r.Detail)
	}
	t.render(w, l)
	switch {
	case len(po.Results) == 0:
		printWrapped(w, l, 2, fmt.Sprintf("probe %s: no TLS client found on this host", po.URL))
	case bad == 0:
		printWrapped(w, l, 2, fmt.Sprintf("probe %s: every one of %s trusts it", po.URL, plural(len(po.Results), "runtime", "runtimes")))
	default:
		printWrapped(w, l, 2, fmt.Sprintf("probe %s: %d of %s do NOT complete a verified handshake (result untrusted: the CA is missing from that runtime's store)",
			po.URL, bad, plural(len(po.Results), "runtime", "runtimes")))
	}
}

// probeOnly is `audit --probe URL` without --ca: only the probe.
func probeOnly(cmd *cobra.Command, f hostFlags, raw string) error {
	env, _, err := f.env(cmd)
	if err != nil {
		return err
	}
	if err := checkProbeURL(raw, env); err != nil {
		return err
	}
	po := runProbe(cmd.Context(), env, raw)
	w := cmd.OutOrStdout()
	if f.json {
		if err := printJSON(w, struct {
			Probe *probeOutput `json:"probe"`
		}{po}); err != nil {
			return err
		}
	} else {
		printProbe(w, termLayout(cmd), po)
	}
	if !po.OK {
		return &exitError{code: 1}
	}
	return nil
}
