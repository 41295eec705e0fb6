package nss

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// setTrust gives certificate der the trust ("C,,", "p,p,p") in every
// trust object an NSS generation reads, adding the certificate when it is
// absent: certutil -A on the NSS that writes legacy objects (what NSS
// older than 3.114, Chromium's among them, reads), then, when the
// database holds a PKCS#11 3.2 CKO_TRUST object for it (Firefox wrote
// one; NSS >= 3.114 prefers it), certutil -A on an NSS >= 3.114 to
// rewrite that one too. A leftover trust object of the certificate is
// taken over by the certificate and rewritten the same way.
func (s *Store) setTrust(ctx context.Context, r *runner, der []byte, nick, trust string) error {
	sum := sha256.Sum256(der)
	fp := hex.EncodeToString(sum[:])
	if err := r.add(ctx, r.legacyLib(), der, nick, trust); err != nil {
		return err
	}
	for round := 0; round < 3; round++ {
		now, err := r.entries(ctx)
		if err != nil {
			return err
		}
		e, ok := certEntry(now, fp)
		if !ok {
			return fmt.Errorf("certutil -A reported success but sha256 %s… is not in the database", fp[:16])
		}
		switch {
		case e.HasPKCS && e.PKCS.String() != trust:
			lib, err := r.modernLib()
			if err != nil {
				return fmt.Errorf("set trust %s of %q: %w", trust, e.Label, err)
			}
			if err := r.add(ctx, lib, der, e.Label, trust); err != nil {
				return err
			}
		case e.HasLegacy && e.Legacy.String() != trust:
			lib, ok := r.libs.legacy()
			if !ok {
				return fmt.Errorf("set trust %s of %q: the database holds a legacy trust object saying %s, which only NSS older than 3.114 rewrites, and the system NSS is newer", trust, e.Label, e.Legacy)
			}
			if err := r.add(ctx, lib, der, e.Label, trust); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return fmt.Errorf("the trust of sha256 %s… still differs from %s after certutil", fp[:16], trust)
}

// purge deletes certificate fp and every trust object NSS keeps for it.
// Each NSS generation deletes the trust object it reads with the
// certificate and leaves the other one behind (NSS 3.87 leaves Firefox's
// CKO_TRUST object, after which Firefox trusts the CA whenever a server
// sends it; NSS 3.125 leaves a legacy object when both exist). So purge
// deletes the certificate with the generation whose object it holds,
// and a trust object left without its certificate is taken over by the
// certificate (certutil -A with no trust, der) and deleted with it, until
// nothing of fp is left. After each deletion whatever else certutil took
// (certificates sharing the subject) is put back from before.
func (s *Store) purge(ctx context.Context, r *runner, before []entry, fp string, der []byte, gone map[string]bool) error {
	for round := 0; round < 8; round++ {
		now, err := r.entries(ctx)
		if err != nil {
			return err
		}
		if e, ok := certEntry(now, fp); ok {
			lib := r.legacyLib()
			if e.HasPKCS {
				if lib, err = r.modernLib(); err != nil {
					return fmt.Errorf("delete %q: %w", e.Label, err)
				}
			}
			if err := r.delete(ctx, lib, e.Label); err != nil {
				_ = s.restoreCollateral(ctx, r, before, gone)
				return err
			}
			if err := s.restoreCollateral(ctx, r, before, gone); err != nil {
				return err
			}
			continue
		}
		left := leftovers(now, fp, der)
		if len(left) == 0 {
			return nil
		}
		if der == nil {
			return leftoverError(fp)
		}
		lib := r.legacyLib()
		if left[0].HasPKCS {
			if lib, err = r.modernLib(); err != nil {
				return fmt.Errorf("take out the trust object left of sha256 %s…: %w", fp[:16], err)
			}
		}
		if err := r.add(ctx, lib, der, leftoverNick(fp), trustNone); err != nil {
			return err
		}
	}
	return fmt.Errorf("certutil -D did not remove sha256 %s… and its trust objects; check the database with certutil -L", fp[:16])
}

// leftoverNick is the nickname a certificate gets when purge adds it back
// to take out a trust object left without it.
func leftoverNick(fp string) string { return "anchorwatch-purge-" + fp[:16] }

// restoreCollateral puts back every certificate of before that is not
// listed in gone but is now missing or whose trust objects changed,
// each trust object with the NSS generation that reads it.
func (s *Store) restoreCollateral(ctx context.Context, r *runner, before []entry, gone map[string]bool) error {
	now, err := r.entries(ctx)
	if err != nil {
		return err
	}
	cur := map[string]entry{}
	for _, e := range now {
		if !e.orphan() {
			cur[e.SHA256] = e
		}
	}
	for _, e := range before {
		if e.orphan() || gone[e.SHA256] {
			continue
		}
		c, ok := cur[e.SHA256]
		if ok && sameTrust(c, e) {
			continue
		}
		s.log.Warn("nss: certutil touched a certificate sharing the subject; restoring it",
			"db", s.dir, "nickname", e.Label, "sha256", e.SHA256, "trust", e.trust())
		if err := s.restoreEntry(ctx, r, e); err != nil {
			return fmt.Errorf("restore %q after certutil changed it: %w", e.Label, err)
		}
	}
	return nil
}

func sameTrust(a, b entry) bool {
	return a.HasLegacy == b.HasLegacy && a.HasPKCS == b.HasPKCS && a.Legacy == b.Legacy && a.PKCS == b.PKCS
}

// restoreEntry writes e back: the certificate with its legacy trust, and
// its CKO_TRUST trust when it had one.
func (s *Store) restoreEntry(ctx context.Context, r *runner, e entry) error {
	legacy := trustNone
	if e.HasLegacy {
		legacy = e.Legacy.String()
	}
	if err := r.add(ctx, r.legacyLib(), e.DER, e.Label, legacy); err != nil {
		return err
	}
	if !e.HasPKCS {
		return nil
	}
	lib, err := r.modernLib()
	if err != nil {
		return err
	}
	return r.add(ctx, lib, e.DER, e.Label, e.PKCS.String())
}
