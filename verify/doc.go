// Package verify is the TLS verification policy for one peer of a
// connection: the origin, or an https proxy. ferry keeps one Policy for each
// (Transport.OriginVerify and Transport.ProxyVerify), so that turning
// verification off for one never turns it off for the other.
//
// A Policy adds urllib3's knobs to a caller's tls.Config without changing it:
// a minimum TLS version, the roots, the SNI name, a name to check the
// certificate against instead of it (assert_hostname), and a pinned SHA-256
// fingerprint of the leaf certificate (assert_fingerprint). It only tightens
// the base config (the highest MinVersion wins; InsecureSkipVerify in either
// turns checks off), except that a matching pin verifies a peer whose chain
// is not trusted, which is what pinning is for.
//
// The connection layer uses it in three steps: build the config for the
// peer, handshake, and ask whether the successful handshake means the peer
// was verified (ferry's IsVerified and IsProxyVerified):
//
//	cfg, err := policy.Config(base, host) // base may be nil; it is cloned
//	if err != nil {
//		return err // a malformed Fingerprint
//	}
//	tc := tls.Client(nc, cfg)
//	if err := tc.HandshakeContext(ctx); err != nil {
//		return err // *tls.CertificateVerificationError, maybe wrapping *PinMismatchError
//	}
//	verified := policy.Verifies(base)
//
// The returned config sets InsecureSkipVerify and does the checks in its
// VerifyConnection callback instead: the chain against the roots with
// x509.Certificate.Verify, the name (or IP address) against the
// certificate, or else the pin. That one callback runs on full and resumed
// handshakes alike, so a session cached by an unverified connection cannot
// let a verified one skip its checks. Failures are reported as crypto/tls
// reports its own, a *tls.CertificateVerificationError, so callers (and
// libraries such as go-retryablehttp) recognise them; a pin mismatch is one
// too, wrapping a *PinMismatchError. The caller's own VerifyPeerCertificate
// and VerifyConnection still run, after the policy's checks.
package verify
