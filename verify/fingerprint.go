package verify

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrBadFingerprint is wrapped by the error ParseFingerprint (and so
// Policy.Config) returns for a fingerprint that is not the hex of a SHA-256
// digest.
var ErrBadFingerprint = errors.New("verify: malformed certificate fingerprint")

// fingerprintPrefix is the optional algorithm prefix of a fingerprint, as in
// "sha256/ab12...". Only SHA-256 is accepted: urllib3 also takes MD5 and SHA-1
// fingerprints, which are too weak to pin a certificate with.
const fingerprintPrefix = "sha256/"

// ParseFingerprint parses a SHA-256 certificate fingerprint and returns its 32
// bytes. It accepts 64 hex digits in any case, either with no colons or with a
// colon between every two digits ("AB:CD:..."), optionally prefixed "sha256/"
// (any case) and surrounded by spaces. Anything else, including the hex of a
// digest of another length (MD5, SHA-1), is an error wrapping
// ErrBadFingerprint.
func ParseFingerprint(s string) ([]byte, error) {
	h := strings.TrimSpace(s)
	if len(h) >= len(fingerprintPrefix) && strings.EqualFold(h[:len(fingerprintPrefix)], fingerprintPrefix) {
		h = h[len(fingerprintPrefix):]
	}
	if strings.Contains(h, ":") {
		parts := strings.Split(h, ":")
		for _, part := range parts {
			if len(part) != 2 {
				return nil, fmt.Errorf("%w %q: colons must separate every two hex digits", ErrBadFingerprint, s)
			}
		}
		h = strings.Join(parts, "")
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%w %q: not hex", ErrBadFingerprint, s)
	}
	if len(b) != sha256.Size {
		return nil, fmt.Errorf("%w %q: %d bytes, want the %d of a SHA-256 digest", ErrBadFingerprint, s, len(b), sha256.Size)
	}
	return b, nil
}

// FingerprintOf returns the SHA-256 fingerprint of cert (of its DER bytes) as
// 64 lower-case hex digits without colons or prefix: the form
// Policy.Fingerprint takes and PinMismatchError reports.
func FingerprintOf(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// PinMismatchError reports a peer whose leaf certificate does not have the
// fingerprint pinned by Policy.Fingerprint. The handshake fails with a
// *tls.CertificateVerificationError that wraps it, so errors.As finds either.
type PinMismatchError struct {
	// Want is the pinned fingerprint, Got the leaf's: lower-case hex
	// without colons, as FingerprintOf returns.
	Want, Got string
}

// Error names both fingerprints.
func (e *PinMismatchError) Error() string {
	return fmt.Sprintf("verify: certificate fingerprint mismatch: want %s%s, got %s%s",
		fingerprintPrefix, e.Want, fingerprintPrefix, e.Got)
}
