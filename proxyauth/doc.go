// Package proxyauth answers a proxy's "407 Proxy Authentication Required"
// with the scheme it is configured for: Basic and Digest (RFC 7616) here,
// NTLM and Negotiate in the nested modules proxyauth/ntlm and
// proxyauth/negotiate, or any scheme a user writes.
//
// A Scheme is one authentication scheme. For each connection to a proxy it
// starts an Authenticator, which turns the proxy's challenge (the
// Proxy-Authenticate value for its scheme) and the request being
// authenticated (method and request target) into the next
// Proxy-Authorization value, for as many legs as the scheme needs:
//
//	Basic:     (preemptive) credentials
//	Digest:    407 with a nonce → digest of the request; later requests reuse the nonce
//	NTLM:      NEGOTIATE → 407 with CHALLENGE → AUTHENTICATE, all on one connection
//	Negotiate: a Kerberos token → the connection is authenticated
//
// Because an Authenticator lives as long as its connection, schemes that
// authenticate the connection (NTLM, Negotiate) keep their handshake state in
// it, and a scheme that authenticates each request (Digest) can still share
// what it learned between connections through the Scheme value.
//
// Auth drives the schemes for one ferry.Transport: it chooses, per proxy, the
// strongest configured scheme the proxy offers (Negotiate, NTLM, Digest,
// Basic: curl's order), falls back to the next offered one when that one
// cannot start, remembers the choice so later connections to that proxy
// authenticate without waiting for a 407, and gives up, with an error that
// never holds credentials, when the proxy rejects them.
package proxyauth
