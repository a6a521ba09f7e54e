// Package verify is the TLS verification policy for one peer of a connection:
// the origin, or an https proxy. ferry keeps the two apart (Transport.OriginVerify
// and Transport.ProxyVerify), so turning verification off for one never turns
// it off for the other.
//
// The connection layer asks a Policy for the tls.Config of a handshake, built
// from the caller's base config and tightened by the policy, and, once the
// handshake succeeded, whether that means the peer was verified:
//
//	cfg, err := policy.Config(base, host)
//	tc := tls.Client(nc, cfg)
//	err = tc.HandshakeContext(ctx)
//	verified := err == nil && policy.Verifies(base)
//
// Verification is done in the config's VerifyConnection callback, so that
// urllib3's assert_hostname (AssertHostname) and assert_fingerprint
// (Fingerprint) work on the same path as ordinary chain and name checks. A
// chain or name failure is a *tls.CertificateVerificationError, exactly as
// crypto/tls reports it; a pin mismatch is a *PinMismatchError.
package verify
