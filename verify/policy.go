package verify

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
)

// ErrBadFingerprint is wrapped by the error for a Fingerprint that is not the
// hex of a SHA-256 digest.
var ErrBadFingerprint = errors.New("verify: malformed certificate fingerprint")

// Policy says how to verify one TLS peer. The zero Policy verifies as
// crypto/tls does (system roots, the host name), with TLS 1.2 at least.
type Policy struct {
	// MinVersion is the lowest TLS version accepted; zero means TLS 1.2. The
	// higher of this and the base config's MinVersion applies.
	MinVersion uint16
	// RootCAs verifies the peer's chain; nil means the base config's RootCAs,
	// and if that is nil too, the system roots.
	RootCAs *x509.CertPool
	// ServerName is the name sent in SNI; empty means the base config's
	// ServerName, else the host being dialled (never an IP address, which
	// TLS does not allow in SNI).
	ServerName string
	// AssertHostname, when set, is the name the certificate must be valid for,
	// instead of the SNI name (urllib3's assert_hostname).
	AssertHostname string
	// Fingerprint pins the peer's leaf certificate: the hex SHA-256 of its DER
	// bytes, with or without colons, any case, optionally prefixed "sha256/".
	// A match verifies the peer even when its chain is not trusted (a private
	// CA, a self-signed certificate) and even with InsecureSkipVerify; a
	// mismatch fails the handshake with a *PinMismatchError.
	Fingerprint string
	// InsecureSkipVerify turns verification off (unless Fingerprint is set).
	// Handshakes then succeed unverified, and Verifies reports false.
	InsecureSkipVerify bool
}

// PinMismatchError reports a peer whose leaf certificate does not have the
// pinned fingerprint.
type PinMismatchError struct {
	Want, Got string // lower-case hex
}

func (e *PinMismatchError) Error() string {
	return fmt.Sprintf("verify: certificate fingerprint mismatch: want sha256/%s, got sha256/%s", e.Want, e.Got)
}

// ParseFingerprint parses a SHA-256 fingerprint in the forms Policy.Fingerprint takes.
func ParseFingerprint(s string) ([]byte, error) {
	t := strings.TrimSpace(s)
	if len(t) >= 7 && strings.EqualFold(t[:7], "sha256/") {
		t = t[7:]
	}
	t = strings.ReplaceAll(t, ":", "")
	b, err := hex.DecodeString(t)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("%w: %q: want %d hex bytes", ErrBadFingerprint, s, sha256.Size)
	}
	return b, nil
}

// FingerprintOf returns the lower-case hex SHA-256 of cert's DER bytes.
func FingerprintOf(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// skips reports whether chain and name checks are off.
func (p Policy) skips(base *tls.Config) bool {
	return p.InsecureSkipVerify || (base != nil && base.InsecureSkipVerify)
}

// Verifies reports whether a handshake that succeeded with p.Config(base, ...)
// means the peer was verified: its chain and name were checked, or its pin matched.
func (p Policy) Verifies(base *tls.Config) bool {
	return p.Fingerprint != "" || !p.skips(base)
}

// Config returns a new tls.Config for a handshake with host (a name or an IP
// address, without port), built from base (nil for defaults; never modified)
// and tightened by p.
func (p Policy) Config(base *tls.Config, host string) (*tls.Config, error) {
	var pin []byte
	if p.Fingerprint != "" {
		var err error
		if pin, err = ParseFingerprint(p.Fingerprint); err != nil {
			return nil, err
		}
	}
	var cfg *tls.Config
	if base != nil {
		cfg = base.Clone()
	} else {
		cfg = &tls.Config{}
	}
	cfg.MinVersion = max(cfg.MinVersion, p.MinVersion, tls.VersionTLS12)
	if cfg.MaxVersion != 0 && cfg.MaxVersion < cfg.MinVersion {
		return nil, fmt.Errorf("verify: MaxVersion %#x below MinVersion %#x", cfg.MaxVersion, cfg.MinVersion)
	}
	roots := cfg.RootCAs
	if p.RootCAs != nil {
		roots = p.RootCAs
		cfg.RootCAs = roots
	}
	sni := p.ServerName
	if sni == "" {
		sni = cfg.ServerName
	}
	if sni == "" {
		sni = host
	}
	checkName := sni
	if p.AssertHostname != "" {
		checkName = p.AssertHostname
	}
	if net.ParseIP(sni) != nil {
		cfg.ServerName = "" // crypto/tls sends no SNI for an IP; we check the IP ourselves
	} else {
		cfg.ServerName = sni
	}

	skip := p.skips(base)
	userVC := cfg.VerifyConnection
	// crypto/tls's own checks are replaced by ours (same rules, plus pinning
	// and a separate name to check); a user's VerifyPeerCertificate still runs.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if err := check(cs, pin, skip, roots, checkName); err != nil {
			return err
		}
		if userVC != nil {
			return userVC(cs)
		}
		return nil
	}
	return cfg, nil
}

func check(cs tls.ConnectionState, pin []byte, skip bool, roots *x509.CertPool, name string) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return &tls.CertificateVerificationError{Err: errors.New("verify: peer sent no certificate")}
	}
	if pin != nil {
		sum := sha256.Sum256(certs[0].Raw)
		if !bytes.Equal(sum[:], pin) {
			return &PinMismatchError{Want: hex.EncodeToString(pin), Got: hex.EncodeToString(sum[:])}
		}
		return nil
	}
	if skip {
		return nil
	}
	opts := x509.VerifyOptions{
		Roots:         roots,
		DNSName:       name,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	return nil
}
