package verify

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net/netip"
	"time"
)

// ErrNoServerName is returned by Policy.Config when the certificate must be
// checked against a name but there is none: no AssertHostname, ServerName,
// base ServerName or host. crypto/tls refuses such a config too, rather than
// accept any name.
var ErrNoServerName = errors.New("verify: no server name to check the certificate against")

// Policy says how to verify one TLS peer: the origin, or an https proxy. The
// zero Policy verifies as crypto/tls does (the chain against the base config's
// RootCAs or the system roots, the name against the host) and requires TLS
// 1.2 or later.
//
// A Policy only ever tightens the base config it is applied to, with one
// deliberate exception: a Fingerprint that matches verifies the peer whatever
// its chain (urllib3's assert_fingerprint).
type Policy struct {
	// MinVersion is the lowest TLS version accepted, as tls.Config's. Zero
	// means TLS 1.2. The highest of this, the base config's MinVersion and TLS
	// 1.2 applies: a policy cannot lower the base's minimum.
	MinVersion uint16

	// RootCAs is the pool the peer's chain is verified against. Nil means the
	// base config's RootCAs, and if that is nil too, the system roots.
	RootCAs *x509.CertPool

	// ServerName is the name sent in SNI and, without AssertHostname, the
	// name the certificate must be valid for. Empty means the base config's
	// ServerName, else the host passed to Config. An IP address is never sent
	// in SNI (RFC 6066, section 3) but is still checked against the
	// certificate's IP SANs.
	ServerName string

	// AssertHostname, when set, is the name (or IP address) the certificate
	// must be valid for instead of the SNI name, which is still sent: a host
	// reached by IP or through an alias whose certificate names another host
	// (urllib3's assert_hostname). It does not relax the chain check.
	AssertHostname string

	// Fingerprint pins the peer's leaf certificate: the SHA-256 of its DER
	// bytes in hex, with or without colons, in any case, optionally prefixed
	// "sha256/" (see ParseFingerprint and FingerprintOf). When set, the pin
	// replaces the chain and name checks: a match verifies the peer even when
	// its chain is not trusted (a private CA, a self-signed certificate) and
	// even with InsecureSkipVerify; a mismatch fails the handshake with a
	// *PinMismatchError. A malformed Fingerprint makes Config fail.
	Fingerprint string

	// InsecureSkipVerify turns the chain and name checks off, as does the base
	// config's InsecureSkipVerify. Handshakes then succeed with any
	// certificate and Verifies reports false. It does not turn off a
	// Fingerprint.
	InsecureSkipVerify bool
}

// Config returns a new tls.Config for a handshake with the peer called host (a
// host name or an IP address, without port), built from base and tightened by
// p. Base may be nil; it is cloned, never modified.
//
// The returned config has InsecureSkipVerify set and checks the peer in
// VerifyConnection instead, so that pinning and AssertHostname work and the
// checks also run on resumed sessions. A chain or name failure is a
// *tls.CertificateVerificationError, as with crypto/tls's own verifier. The
// base config's VerifyPeerCertificate and VerifyConnection are still called,
// after the policy's checks passed (also on resumed sessions), with the chains
// the policy verified; ConnectionState().VerifiedChains stays empty.
//
// Config fails with an error wrapping ErrBadFingerprint for a malformed
// Fingerprint, and with ErrNoServerName when there is no name to check.
func (p Policy) Config(base *tls.Config, host string) (*tls.Config, error) {
	var pin []byte
	if p.Fingerprint != "" {
		var err error
		if pin, err = ParseFingerprint(p.Fingerprint); err != nil {
			return nil, err
		}
	}
	cfg := &tls.Config{}
	if base != nil {
		cfg = base.Clone()
	}
	cfg.MinVersion = max(cfg.MinVersion, p.MinVersion, tls.VersionTLS12)
	if p.RootCAs != nil {
		cfg.RootCAs = p.RootCAs
	}

	sni := firstNonEmpty(p.ServerName, cfg.ServerName, host)
	name := firstNonEmpty(p.AssertHostname, sni)
	if ip, ok := ipLiteral(name); ok {
		name = ip // x509 matches "[::1]" but not "fe80::1%eth0"
	}
	if _, ok := ipLiteral(sni); ok {
		// crypto/tls would leave the IP out of SNI by itself, but ServerName
		// also keys the session cache and shows in ConnectionState: keep it
		// what is sent.
		sni = ""
	}
	cfg.ServerName = sni

	v := &verifier{
		pin:        pin,
		skip:       p.skips(base),
		roots:      cfg.RootCAs,
		name:       name,
		time:       cfg.Time,
		peerCert:   cfg.VerifyPeerCertificate,
		connection: cfg.VerifyConnection,
	}
	if v.pin == nil && !v.skip && v.name == "" {
		return nil, ErrNoServerName
	}
	cfg.InsecureSkipVerify = true
	cfg.VerifyPeerCertificate = nil // called by v, after its checks
	cfg.VerifyConnection = v.verifyConnection
	return cfg, nil
}

// Verifies reports whether a successful handshake made with a config from
// p.Config(base, ...) means the peer was verified: its chain and name were
// checked, or its leaf matched the pinned Fingerprint. It is false when
// verification is off (InsecureSkipVerify in p or base) and nothing is pinned.
func (p Policy) Verifies(base *tls.Config) bool {
	return p.Fingerprint != "" || !p.skips(base)
}

// skips reports whether the chain and name checks are off.
func (p Policy) skips(base *tls.Config) bool {
	return p.InsecureSkipVerify || (base != nil && base.InsecureSkipVerify)
}

// ---------------------------------------------------------------------------
// Implementation

// verifier is the frozen state one config's VerifyConnection checks against.
// It is read-only once built, so the config can be used concurrently.
type verifier struct {
	pin   []byte         // SHA-256 of the leaf; nil: not pinned
	skip  bool           // chain and name checks off
	roots *x509.CertPool // nil: system roots
	name  string         // what the leaf must be valid for
	time  func() time.Time

	// The caller's callbacks, run after ours.
	peerCert   func(rawCerts [][]byte, verifiedChains [][]*x509.Certificate) error
	connection func(tls.ConnectionState) error
}

func (v *verifier) verifyConnection(cs tls.ConnectionState) error {
	chains, err := v.check(cs.PeerCertificates)
	if err != nil {
		return err
	}
	if v.peerCert != nil {
		raw := make([][]byte, len(cs.PeerCertificates))
		for i, c := range cs.PeerCertificates {
			raw[i] = c.Raw
		}
		if err := v.peerCert(raw, chains); err != nil {
			return err
		}
	}
	if v.connection != nil {
		cs.VerifiedChains = chains
		return v.connection(cs)
	}
	return nil
}

// check verifies the peer's chain, leaf first, and returns the verified
// chains (nil when pinned or skipped).
func (v *verifier) check(certs []*x509.Certificate) ([][]*x509.Certificate, error) {
	if len(certs) == 0 {
		// A TLS server always sends a certificate; be safe anyway.
		return nil, &tls.CertificateVerificationError{Err: errors.New("verify: peer sent no certificate")}
	}
	if v.pin != nil {
		sum := sha256.Sum256(certs[0].Raw)
		if !bytes.Equal(sum[:], v.pin) {
			return nil, &tls.CertificateVerificationError{
				UnverifiedCertificates: certs,
				Err:                    &PinMismatchError{Want: hex.EncodeToString(v.pin), Got: hex.EncodeToString(sum[:])},
			}
		}
		return nil, nil
	}
	if v.skip {
		return nil, nil
	}
	opts := x509.VerifyOptions{
		Roots:         v.roots,
		DNSName:       v.name,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if v.time != nil {
		opts.CurrentTime = v.time() // as crypto/tls does
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	chains, err := certs[0].Verify(opts)
	if err != nil {
		return nil, &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	return chains, nil
}

// ipLiteral reports whether s is an IP address, also in brackets or with a
// zone, and returns it bare.
func ipLiteral(s string) (string, bool) {
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return "", false
	}
	return ip.WithZone("").String(), true
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
