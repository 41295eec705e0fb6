//go:build linux

package system

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"path"
	"strings"

	"github.com/anchorwatch/anchorwatch/stores"
)

var _ stores.Distruster = (*Store)(nil)

// distrustRecord is a certificate the trust sources refuse and where:
// a p11-kit blocklist file, or a "!" line of ca-certificates.conf.
type distrustRecord struct {
	e     entry
	where string
}

// noteDistrust records that the sources refuse e (the first place wins).
func (st *state) noteDistrust(e entry, where string) {
	if _, ok := st.distrusted[e.sha256()]; !ok {
		st.distrusted[e.sha256()] = distrustRecord{e: e, where: where}
	}
}

// distrustSubdir is where, under CertsDir, the Debian family keeps the
// certificates Anchorwatch distrusts, each deselected by a "!" line of
// ca-certificates.conf: the distribution tool's own way to say no, which
// dpkg-reconfigure ca-certificates keeps.
const distrustSubdir = "anchorwatch-distrusted"

// Distrust implements stores.Distruster. Every anchors-directory copy of
// each certificate is taken out, and a distrust record written in the
// family's own terms: a PEM in the p11-kit blocklist directory (RHEL,
// SUSE, Arch: p11-kit then refuses the CA, also from a copy added back
// as an anchor), or, for Debian and Alpine, the certificate under
// /usr/share/ca-certificates/anchorwatch-distrusted deselected with a
// "!" line in ca-certificates.conf, with every line selecting a shipped
// copy deselected too (Debian's tool has no blocklist: a copy added back
// to /usr/local/share/ca-certificates is trusted until the agent takes it
// out again). Then the bundle is refreshed and checked.
func (s *Store) Distrust(ctx context.Context, certs []*x509.Certificate, opt stores.Options) ([]stores.Change, error) {
	pl, st, done, err := s.begin(ctx, opt)
	if err != nil {
		return nil, err
	}
	defer done(false)
	var (
		ops     []op
		changes []stores.Change
		drop    = map[string]bool{}
		conf    = confEdit{deselect: map[string]bool{}}
	)
	for _, c := range certs {
		fp := stores.SHA256(c)
		if drop[fp] || hasChange(changes, fp) {
			continue
		}
		_, inBundle := st.inBundle[fp]
		_, recorded := st.distrusted[fp]
		if recorded && !inBundle && !st.heldLocally(fp) && len(st.confSel[fp]) == 0 {
			changes = append(changes, stores.Change{SHA256: fp, Action: stores.ActionUnchanged})
			continue
		}
		drop[fp] = true
		changes = append(changes, stores.Change{SHA256: fp, Action: stores.ActionDistrusted})
		for _, line := range st.confSel[fp] {
			conf.deselect[line] = true
		}
		if recorded {
			continue
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		if s.fam.P11Kit {
			ops = append(ops, op{p: path.Join(s.blocklistDir(), stores.Label(c)+".pem"), data: data})
			continue
		}
		rel := path.Join(distrustSubdir, stores.Label(c)+".crt")
		ops = append(ops, op{p: path.Join(s.fam.CertsDir, rel), data: data})
		conf.add = append(conf.add, "!"+rel)
	}
	ops = append(ops, anchorOps(st, drop)...)
	if cop, ok, err := s.confOp(conf); err != nil {
		return nil, err
	} else if ok {
		ops = append(ops, cop)
	}
	if opt.DryRun || len(drop) == 0 {
		return changes, nil
	}
	err = s.finish(ctx, pl, ops, done, func(after *state) error {
		for fp := range drop {
			if _, ok := after.inBundle[fp]; ok && after.blocked[fp] == "" {
				return fmt.Errorf("%s store: after %s the bundle %s still holds sha256 %s… (from %s)", s.fam.Name, s.refreshName(), s.fam.Bundle, fp[:16], orUnknown(after.source[fp]))
			}
			if _, ok := after.distrusted[fp]; !ok {
				return fmt.Errorf("%s store: after %s no distrust record of sha256 %s… is read back", s.fam.Name, s.refreshName(), fp[:16])
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return changes, nil
}

// Undistrust implements stores.Distruster: the distrust records
// Anchorwatch wrote (its blocklist file, or its file and "!" line) are
// taken out and the bundle refreshed. A record someone else wrote is left
// ("unchanged"); deselected lines of shipped CAs stay deselected: nothing
// is trusted anew.
func (s *Store) Undistrust(ctx context.Context, sha256s []string, opt stores.Options) ([]stores.Change, error) {
	pl, st, done, err := s.begin(ctx, opt)
	if err != nil {
		return nil, err
	}
	defer done(false)
	var (
		ops     []op
		changes []stores.Change
		conf    = confEdit{remove: map[string]bool{}}
	)
	fps, err := stores.Fingerprints(sha256s)
	if err != nil {
		return nil, fmt.Errorf("undistrust: %w", err)
	}
	for _, fp := range fps {
		rec, recorded := st.distrusted[fp]
		action := stores.ActionUnchanged
		switch {
		case !recorded:
		case s.fam.P11Kit && ours(rec.where):
			ops = append(ops, op{p: rec.where, del: true})
			action = stores.ActionUndistrusted
		case !s.fam.P11Kit && strings.HasPrefix(rec.where, "!"+distrustSubdir+"/"):
			ops = append(ops, op{p: path.Join(s.fam.CertsDir, strings.TrimPrefix(rec.where, "!")), del: true})
			conf.remove[rec.where] = true
			action = stores.ActionUndistrusted
		}
		changes = append(changes, stores.Change{SHA256: fp, Action: action})
	}
	if cop, ok, err := s.confOp(conf); err != nil {
		return nil, err
	} else if ok {
		ops = append(ops, cop)
	}
	if opt.DryRun || !stores.Changed(changes) {
		return changes, nil
	}
	if err := s.finish(ctx, pl, ops, done, func(*state) error { return nil }); err != nil {
		return nil, err
	}
	return changes, nil
}

// Distrusted implements stores.Distruster: every certificate a blocklist
// holds or ca-certificates.conf deselects.
func (s *Store) Distrusted(ctx context.Context) ([]stores.Anchor, error) {
	if s.unknown != nil {
		return nil, s.unknown
	}
	st, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	var out []stores.Anchor
	for _, fp := range sortedKeys(st.distrusted) {
		rec := st.distrusted[fp]
		c, err := x509.ParseCertificate(rec.e.DER)
		if err != nil {
			continue
		}
		out = append(out, stores.Anchor{Cert: c, SHA256: fp, Label: rec.where})
	}
	return out, nil
}

func hasChange(cs []stores.Change, fp string) bool {
	for _, c := range cs {
		if c.SHA256 == fp {
			return true
		}
	}
	return false
}

// heldLocally reports whether an anchors-directory file holds fp.
func (st *state) heldLocally(fp string) bool {
	for _, f := range st.files {
		if f.holds(fp) {
			return true
		}
	}
	return false
}

// anchorOps returns the changes that take every certificate in drop out
// of the anchors directory: a file holding only such certificates is
// deleted, one holding others too rewritten without them.
func anchorOps(st *state, drop map[string]bool) []op {
	var ops []op
	for _, f := range st.files {
		var keep []entry
		hit := false
		for _, e := range f.Certs {
			if drop[e.sha256()] {
				hit = true
				continue
			}
			keep = append(keep, e)
		}
		switch {
		case !hit:
		case len(keep) == 0:
			ops = append(ops, op{p: f.Path, del: true})
		default:
			var b bytes.Buffer
			for _, e := range keep {
				_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: e.DER})
			}
			ops = append(ops, op{p: f.Path, data: b.Bytes()})
		}
	}
	return ops
}

// confEdit is a change to ca-certificates.conf: lines to deselect with
// "!", lines to append, lines to delete.
type confEdit struct {
	deselect map[string]bool
	add      []string
	remove   map[string]bool
}

// confOp turns e into the write of ca-certificates.conf; ok is false when
// there is nothing to change.
func (s *Store) confOp(e confEdit) (op, bool, error) {
	if len(e.deselect)+len(e.add)+len(e.remove) == 0 || s.fam.CertsConf == "" {
		return op{}, false, nil
	}
	conf, err := s.readFile(s.fam.CertsConf)
	if err != nil {
		return op{}, false, fmt.Errorf("%s store: %w", s.fam.Name, err)
	}
	var out []string
	for _, l := range strings.SplitAfter(string(conf), "\n") {
		t := strings.TrimSpace(l)
		switch {
		case e.remove[t]:
			continue
		case e.deselect[t]:
			l = "!" + strings.TrimLeft(l, " \t")
		}
		out = append(out, l)
	}
	text := strings.Join(out, "")
	if len(e.add) > 0 && text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	for _, a := range e.add {
		text += a + "\n"
	}
	return op{p: s.fam.CertsConf, data: []byte(text)}, true, nil
}
