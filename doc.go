// Package ferry is an http.RoundTripper for HTTP/1.1 and HTTP/2 with the proxy and
// connection semantics of Python's urllib3, built on its own connection
// (package conn) and pool (package pool) layers. Plug it into any
// http.Client in place of an *http.Transport:
//
//	client := &http.Client{Transport: &ferry.Transport{Proxy: ferry.ProxyFromEnvironment}}
//
// # The mode table
//
// proxyconfig.Select decides, for each request, how it travels:
//
//	proxy    target  mode     first origin  TLS
//	none     http    Direct   target        none
//	none     https   Direct   target        to the target
//	http     http    Forward  proxy         none (absolute-form request target)
//	http     https   Tunnel   proxy         to the target, inside CONNECT
//	https    http    Forward  proxy         to the proxy
//	https    https   Tunnel   proxy         to the proxy, then to the target inside it
//	https    https   Forward  proxy         to the proxy only (UseForwardingForHTTPS)
//	socks5*  any     Direct   proxy         to the target if https
//
// An https:// URL is never sent in clear text: with an http:// proxy it is
// always tunnelled, whatever UseForwardingForHTTPS says.
//
// # Where a request goes
//
// Transport.RoundTrip asks proxyconfig for the route, asks the pool for a
// connection on that route's key, and the connection (conn.Conn) dials,
// tunnels, handshakes (with the policies of package verify), writes the
// request and reads the response. The response body returns the connection to
// its pool when it is read to the end or closed after a short unread rest.
//
//	RoundTrip ─▶ proxyconfig.Select ─▶ pool.Get(key) ─▶ conn.Connect ─▶ conn.Request/GetResponse
//	                                        ▲                                   │
//	                                        └──────── pool.Body at EOF ◀────────┘
//
// # The connection lifecycle
//
// conn.Conn mirrors urllib3's HTTPConnection: it is made for its first origin
// (the target, or the proxy), given a tunnel with SetTunnel, connected with
// Connect (bounded by ConnectTimeout: dial, TLS to the proxy, CONNECT, TLS to
// the target), then carries requests one at a time; every wait for response
// bytes is bounded by ReadTimeout. A request body is written by a goroutine
// while the response is read, so a server that answers early (413, 401, 403)
// and stops reading or closes is heard: the caller gets that response, not a
// broken pipe, and the connection is not reused (ConnInfo.WriteErr says why).
//
// # HTTP/2
//
// With HTTP/2 switched on (ForceAttemptHTTP2, Protocols or TLSNextProto, as
// in net/http), Connect offers h2 in ALPN to the target, never to a proxy;
// when the target chooses it, the finished connection is handed to the
// standard library's HTTP/2 engine (http.Transport.NewClientConn) and the
// pool lends it to many requests at once under the same key (pool.GetMux),
// no more than the server's MAX_CONCURRENT_STREAMS, which conn reads from
// the server's first SETTINGS frame itself (conn.H2Peer) because the engine
// does not say when it has. ReadTimeout is a timer per stream that cancels
// that stream alone. Forward mode and Upgrade requests stay HTTP/1.1.
//
// # What a response tells
//
// ConnInfoOf(resp) reports the mode, the proxy, whether TLS with the target
// (IsVerified) and with the proxy (IsProxyVerified) was verified, whether
// the connection was reused, and the protocol (Proto, ALPN). resp.TLS is the
// target's TLS state, as in net/http, and nil when the proxy spoke TLS with
// the target for us.
//
// # Errors
//
// Failures that are the proxy's are *ProxyError (with the CONNECT reply's
// status, header and body when it refused). Failures at the target keep the
// standard types: *net.OpError for a dial, *tls.CertificateVerificationError
// for a certificate, *conn.TimeoutError (a net.Error) for ConnectTimeout and
// ReadTimeout. EPIPE and ECONNRESET stay reachable with errors.Is.
//
// What can never work is refused before anything is dialled: a request
// that cannot be sent (a bad URL or port, CR or LF in a header) with
// ErrInvalidRequest, a bad proxy URL with *proxyconfig.InvalidProxyURLError,
// and settings that cannot work (a malformed certificate pin, a pin for a
// peer the request has no TLS with) with *ConfigError (errors.Is
// ErrInvalidConfig).
//
// # Proxy lists and failover
//
// ProxyList gives a request an ordered list of routes, as a PAC file does
// ("PROXY a:3128; PROXY b:3128; DIRECT"; proxyconfig.ParsePAC reads that
// form). ferry moves to the next entry by Chromium's rules, only when
// nothing of the request was sent: the proxy's dial (or a DIRECT entry's)
// failed (refused, timed out, name not resolved, unreachable), TLS with an
// https proxy failed, or a tunnel's connection closed, reset or timed out
// before the CONNECT reply. It never moves on after a CONNECT answered with
// a status (403, 407), after a forwarded request was written, for a TLS
// failure with the target, or once the request's context ended. A proxy that failed while a later entry
// served is tried last for BadProxyTimeout (5 minutes). When every entry
// fails the error is errors.Join of each entry's error; ConnInfo.Proxy names
// the entry that served and ConnInfo.Skipped the ones that failed.
//
// # Proxy authentication
//
// Without configuration the proxy URL's credentials go out as preemptive
// Basic, as in net/http. Transport.ProxyAuth lists the schemes ferry may
// answer a 407 with (package proxyauth: Basic, Digest; the nested modules
// proxyauth/ntlm and proxyauth/negotiate: NTLM, Negotiate; or a scheme of
// your own). The CONNECT or forwarded request that got the 407 is sent again
// with the next leg's credentials; the state of a scheme that authenticates
// the connection (NTLM, Negotiate) lives with the conn.Conn, which is pooled
// authenticated. Proxy-Authorization never reaches an origin.
//
// # Modules
//
// The library's go.mod requires only golang.org/x/net and go-cmp. What needs
// another library is a module of its own beside it: proxyauth/ntlm
// (go-ntlmssp), proxyauth/negotiate (gokrb5) and pac (goja); a program that
// needs none of them pulls none of them. The command cmd/ferry is a module of
// its own too, rather than reaching the nested modules through interfaces
// registered at run time: its flags (--proxy-ntlm, --proxy-negotiate, --pac)
// simply import them, and the library never does. The root go.work ties all
// the modules together, so "go run ./cmd/ferry demo" and "go test -race work"
// work from a fresh clone; internal/compat and internal/interop/anyauth are
// test-only modules in it.
//
// # Differences from net/http
//
// The zero Transport uses no proxy (http.DefaultTransport reads the
// environment). A Transport reads all its fields once, at its first use;
// changing them afterwards has no effect (use Clone). Connections are pooled
// per (proxy with credentials, target, per-request CONNECT headers), so GetProxyConnectHeader results are never
// mixed up. Forwarded requests share one pool per proxy. ProxyHeader reaches
// the proxy on CONNECT and on forwarded requests (where, as with the proxy
// URL's credentials, the proxy may pass it on to the target). The zero
// Transport speaks HTTP/1.1 only (net/http's tries HTTP/2); the HTTP/2 pool
// uses ferry's keys, and the handshake with an https proxy never offers h2.
// resp.Request is a shallow copy of the request, whose context carries ConnInfo.
package ferry
