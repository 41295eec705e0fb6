package proxy

import (
	"fmt"
	"strings"
)

// Grade is a letter on the scale of Durumeric et al., "The Security Impact
// of HTTPS Interception" (NDSS 2017): A optimal (as good as a modern
// browser), B suboptimal (weaker settings, no known attack), C known
// attack, F severely broken (an active attacker reads or changes the
// traffic). The zero Grade means "not graded".
type Grade int

// Grades, best first.
const (
	GradeA Grade = iota + 1
	GradeB
	GradeC
	GradeF
)

func (g Grade) String() string {
	switch g {
	case GradeA:
		return "A"
	case GradeB:
		return "B"
	case GradeC:
		return "C"
	case GradeF:
		return "F"
	}
	return "-"
}

// MarshalText writes the letter ("-" for no grade).
func (g Grade) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText reads a letter written by MarshalText.
func (g *Grade) UnmarshalText(b []byte) error {
	if string(b) == "-" {
		*g = 0
		return nil
	}
	v, err := ParseGrade(string(b))
	*g = v
	return err
}

// ParseGrade reads a letter A, B, C or F.
func ParseGrade(s string) (Grade, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "A":
		return GradeA, nil
	case "B":
		return GradeB, nil
	case "C":
		return GradeC, nil
	case "F":
		return GradeF, nil
	}
	return 0, fmt.Errorf("grade %q: want A, B, C or F", s)
}

// Worse returns the worse of two grades (a zero grade counts as none).
func (g Grade) Worse(o Grade) Grade {
	return max(g, o)
}

// CipherName is the IANA name of a cipher suite, or its number.
func CipherName(id uint16) string {
	if n, ok := cipherNames[id]; ok {
		return n
	}
	return fmt.Sprintf("0x%04X", id)
}

// CipherGrade grades one cipher suite and says why. ok is false for a
// value that is not a cipher (a signalling value) or that is unknown.
//
//   - F: no encryption (NULL), export-grade, anonymous (no authentication),
//     single DES, RC2;
//   - C: RC4 (biases, RFC 7465), 3DES (Sweet32, 64-bit blocks), MD5 MACs;
//   - B: no forward secrecy (RSA or static DH key exchange), or CBC mode
//     (padding oracles such as Lucky13) or another cipher browsers dropped;
//   - A: an AEAD cipher (AES-GCM, ChaCha20-Poly1305, AES-CCM) with an
//     ephemeral key exchange, and every TLS 1.3 suite.
func CipherGrade(id uint16) (g Grade, why string, ok bool) {
	name, known := cipherNames[id]
	if !known || strings.HasSuffix(name, "_SCSV") {
		return 0, "", false
	}
	switch {
	case strings.Contains(name, "_NULL_") || strings.HasSuffix(name, "_NULL"):
		return GradeF, "no encryption", true
	case strings.Contains(name, "EXPORT"):
		return GradeF, "export-grade", true
	case strings.Contains(name, "_anon_"):
		return GradeF, "anonymous: no server authentication", true
	case strings.Contains(name, "_DES_CBC_") || strings.Contains(name, "_DES40_") || strings.Contains(name, "RC2"):
		return GradeF, "56-bit or weaker encryption", true
	case strings.Contains(name, "RC4"):
		return GradeC, "RC4 (RFC 7465 prohibits it)", true
	case strings.Contains(name, "3DES"):
		return GradeC, "3DES (Sweet32)", true
	case strings.HasSuffix(name, "_MD5"):
		return GradeC, "MD5 MAC", true
	}
	tls13 := !strings.Contains(name, "_WITH_")
	ephemeral := strings.Contains(name, "_ECDHE_") || strings.Contains(name, "_DHE_")
	aead := strings.Contains(name, "_GCM_") || strings.Contains(name, "CHACHA20") || strings.Contains(name, "_CCM")
	switch {
	case tls13:
		return GradeA, "", true
	case !ephemeral:
		return GradeB, "no forward secrecy", true
	case !aead:
		return GradeB, "CBC mode", true
	case strings.Contains(name, "_PSK_") || strings.Contains(name, "ARIA") || strings.Contains(name, "CAMELLIA"):
		return GradeB, "a cipher browsers do not offer", true
	}
	return GradeA, "", true
}

// VersionName names a TLS protocol version.
func VersionName(v uint16) string {
	switch v {
	case 0x0300:
		return "SSL 3.0"
	case 0x0301:
		return "TLS 1.0"
	case 0x0302:
		return "TLS 1.1"
	case 0x0303:
		return "TLS 1.2"
	case 0x0304:
		return "TLS 1.3"
	case 0:
		return "none"
	}
	return fmt.Sprintf("0x%04X", v)
}

// HelloGrade is the grade of what a client offers, and why.
type HelloGrade struct {
	Grade      Grade    `json:"grade"`
	Reasons    []string `json:"reasons,omitempty"`
	MaxVersion string   `json:"max_version"`
	MinVersion string   `json:"min_version"`
	Ciphers    []string `json:"ciphers"`
}

// GradeHello grades a ClientHello on the Durumeric et al. scale: the worst
// cipher it offers at all (an attacker can force the worst: F and C
// ciphers count wherever they are in the list), the cipher it prefers
// (B if that lacks forward secrecy or AEAD) and the versions it offers
// (SSL 3.0: C, POODLE; no TLS 1.2: B; TLS 1.0 or 1.1 still offered: B).
func GradeHello(h *ClientHello) HelloGrade {
	hg := HelloGrade{Grade: GradeA, MaxVersion: VersionName(h.MaxVersion()), MinVersion: VersionName(h.MinVersion())}
	worse := func(g Grade, why string) {
		hg.Grade = hg.Grade.Worse(g)
		hg.Reasons = append(hg.Reasons, why)
	}
	preferred := true
	var bad []string
	worst := GradeA
	for _, id := range h.CipherSuites {
		hg.Ciphers = append(hg.Ciphers, CipherName(id))
		g, why, ok := CipherGrade(id)
		if !ok {
			continue
		}
		if preferred {
			preferred = false
			if g == GradeB {
				worse(GradeB, "prefers "+CipherName(id)+" ("+why+")")
			}
		}
		if g >= GradeC {
			worst = worst.Worse(g)
			if len(bad) < 5 {
				bad = append(bad, CipherName(id)+" ("+why+")")
			}
		}
	}
	if worst >= GradeC {
		worse(worst, "offers "+strings.Join(bad, ", "))
	}
	if preferred {
		worse(GradeF, "offers no cipher suite this grader knows")
	}
	switch hi, lo := h.MaxVersion(), h.MinVersion(); {
	case hi <= 0x0300 || lo <= 0x0300:
		worse(GradeC, "offers SSL 3.0 (POODLE)")
	case hi < 0x0303:
		worse(GradeB, "offers at most "+VersionName(hi))
	case lo < 0x0303:
		worse(GradeB, "still offers "+VersionName(lo))
	}
	return hg
}
