package ferry

import (
	"context"
	"crypto/tls"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/ferryhttp/ferry/conn"
	"github.com/ferryhttp/ferry/pool"
	"github.com/ferryhttp/ferry/proxyauth"
	"github.com/ferryhttp/ferry/verify"
)

// Transport is an http.RoundTripper for HTTP/1.1 and HTTP/2 with urllib3's
// connection, pool and proxy semantics. Use it where an *http.Transport would go:
//
//	client := &http.Client{Transport: &ferry.Transport{Proxy: ferry.ProxyFromEnvironment}}
//
// The fields shared with http.Transport have the same names and meanings, so
// migrating is changing the type (or calling NewFromHTTPTransport). The zero
// value is ready to use: no proxy, defaults as http.Transport's zero value.
// Unlike http.DefaultTransport, the zero Transport does not read the proxy
// environment variables; set Proxy to ProxyFromEnvironment for that.
//
// A Transport keeps connections for reuse and is safe for concurrent use.
//
// A Transport reads its fields once, at its first use (the first RoundTrip,
// CloseIdleConnections or PoolStats), and keeps using what it read: a field
// changed afterwards has no effect, whichever field it is. The header maps
// (ProxyHeader, ProxyConnectHeader) and the tls.Configs (TLSClientConfig,
// ProxyTLSClientConfig) are copied then too, so changing their contents has
// no effect either; what they point to (a CertPool, a session cache) is
// shared. (http.Transport reads most fields on each use, and changing them
// while requests run is a data race.) To change settings, Clone the
// Transport, change the clone, use it, and CloseIdleConnections on the old one.
type Transport struct {
	// Proxy returns the proxy for a request, or nil for none, as in
	// http.Transport. Schemes http, https (TLS to the proxy), socks5 and
	// socks5h are supported; the mode table in the package documentation
	// says how each target is sent. Nil means no proxy.
	//
	// User information in the proxy URL becomes "Proxy-Authorization: Basic"
	// for http and https proxies (the SOCKS5 user and password for SOCKS).
	// ferry sends it to the proxy only: on the CONNECT in tunnel mode, where
	// nothing of it can reach the target; and on each forwarded request in
	// forward mode, where it is a header of the request itself, and the
	// proxy decides whether to pass it on to the target. squid consumes it;
	// tinyproxy passes it on. When the target must not see the credentials,
	// use forward mode only through a proxy known to drop them.
	Proxy func(*http.Request) (*url.URL, error)

	// ProxyList returns, per request, the routes to try in order: proxy URLs
	// as Proxy takes them, nil for a direct connection (a PAC file's DIRECT);
	// an empty list means direct. proxyconfig.ParsePAC turns a PAC answer
	// into such a list, and package pac a PAC script into this function.
	// The next entry is tried only when nothing of the request reached the
	// current one (failover.go has the rules). Setting both Proxy and
	// ProxyList is an error (ErrProxyAndProxyList) at the first request.
	ProxyList func(*http.Request) ([]*url.URL, error)

	// BadProxyTimeout is how long a ProxyList proxy that failed, while a
	// later entry then served the request, is tried after the others. Zero
	// means 5 minutes, as in Chromium; negative means never.
	BadProxyTimeout time.Duration

	// OnProxyConnectResponse is called with every reply of the proxy to a
	// CONNECT (407 and 403 included), before its status is checked, as in
	// http.Transport. A non-nil error aborts the connection and is returned
	// inside the *ProxyError; otherwise a reply other than 2xx still fails
	// with a *ProxyError wrapping ErrConnectRefused.
	OnProxyConnectResponse func(ctx context.Context, proxyURL *url.URL, connectReq *http.Request, connectRes *http.Response) error

	// DialContext dials TCP connections to targets and proxies. Nil means a
	// net.Dialer with a 30 s keep-alive. Dial events reach httptrace through it.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// DialTLSContext, if set, dials and does TLS for a first hop that speaks
	// TLS (an https target without a proxy, or an https proxy), as in
	// http.Transport; TLSClientConfig, OriginVerify and TLSHandshakeTimeout are
	// then not used for that hop.
	DialTLSContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// TLSClientConfig is the TLS configuration for targets (never for the
	// proxy; see ProxyTLSClientConfig). Nil means the defaults. It is cloned,
	// never modified; OriginVerify can tighten it.
	TLSClientConfig *tls.Config

	// TLSHandshakeTimeout bounds each TLS handshake. Zero means no limit.
	TLSHandshakeTimeout time.Duration

	// DisableKeepAlives, if true, sends "Connection: close" and uses each
	// connection for one request.
	DisableKeepAlives bool

	// DisableCompression, if true, stops the Transport from asking for gzip
	// with "Accept-Encoding: gzip" when the request has no Accept-Encoding of
	// its own. When it asked, it decompresses the body and sets
	// resp.Uncompressed, as http.Transport does.
	DisableCompression bool

	// MaxIdleConns limits idle connections across all hosts. Zero means no limit.
	MaxIdleConns int

	// MaxIdleConnsPerHost limits idle connections per pool key. Zero means
	// pool.DefaultMaxIdleConnsPerHost (2).
	MaxIdleConnsPerHost int

	// MaxConnsPerHost limits connections per pool key, dialling, in use and
	// idle. A request waits for a connection when it is reached (its context
	// ends the wait). Zero means no limit.
	MaxConnsPerHost int

	// IdleConnTimeout closes connections idle for longer. Zero means no limit.
	IdleConnTimeout time.Duration

	// ResponseHeaderTimeout bounds the wait for the response header after the
	// request, body included, was written. Zero means no limit.
	ResponseHeaderTimeout time.Duration

	// ExpectContinueTimeout is how long a request with "Expect: 100-continue"
	// waits for the server's 100 Continue before sending the body anyway.
	// Zero sends the body at once without waiting.
	ExpectContinueTimeout time.Duration

	// ProxyConnectHeader goes on every CONNECT request (never on forwarded
	// requests, as in http.Transport).
	ProxyConnectHeader http.Header

	// GetProxyConnectHeader returns extra headers for the CONNECT to target
	// through proxyURL, as in http.Transport. Unlike http.Transport, a tunnel
	// made with one set of these headers is never reused for a request that
	// gets another: they are part of the pool key.
	GetProxyConnectHeader func(ctx context.Context, proxyURL *url.URL, target string) (http.Header, error)

	// MaxResponseHeaderBytes limits the response header, and a proxy's CONNECT
	// reply. Zero means 10 MiB.
	MaxResponseHeaderBytes int64

	// WriteBufferSize and ReadBufferSize size each connection's buffers. Zero
	// means 4 KiB.
	WriteBufferSize int
	ReadBufferSize  int

	// TLSNextProto, ForceAttemptHTTP2 and Protocols decide, as in
	// http.Transport, whether HTTP/2 is offered to https targets (in ALPN,
	// direct, inside CONNECT tunnels, TLS in TLS, over SOCKS) and whether
	// http targets get HTTP/2 with prior knowledge (Protocols with only
	// UnencryptedHTTP2; direct and SOCKS only). A non-nil TLSNextProto
	// without "h2" turns HTTP/2 off; its functions are never called (ferry
	// runs HTTP/2 with the standard library's engine on the connections it
	// made). One difference: a Transport that sets none of the three speaks
	// HTTP/1.1 only, where http.Transport would try HTTP/2 unless it has a
	// custom TLS config or dialer; NewFromHTTPTransport keeps net/http's
	// choice. The handshake with an https proxy always offers http/1.1
	// only, and forward mode and Upgrade requests always use HTTP/1.1.
	TLSNextProto      map[string]func(authority string, c *tls.Conn) http.RoundTripper
	ForceAttemptHTTP2 bool
	Protocols         *http.Protocols

	// HTTP2 configures HTTP/2 connections as in http.Transport (ping
	// health checks, frame and window sizes, header table sizes,
	// StrictMaxConcurrentRequests). Nil means the defaults.
	HTTP2 *http.HTTP2Config

	// ProxyHeader is urllib3's proxy_headers: sent to the proxy on CONNECT in
	// tunnel mode and on every request in forward mode. Never sent to a
	// target through a tunnel. In forward mode the headers are on the request
	// the proxy relays, and a proxy may pass them on to the target (squid
	// does for headers that are not hop-by-hop, such as X-Team; see Proxy for
	// Proxy-Authorization). Per-request additions come from WithProxyHeader.
	ProxyHeader http.Header

	// UseForwardingForHTTPS sends https:// requests to an https:// proxy in
	// absolute form over the TLS connection to the proxy, instead of a CONNECT
	// tunnel; the proxy then speaks TLS with the target (urllib3's
	// use_forwarding_for_https). ferry does not see the target's certificate,
	// so such responses report IsVerified false, resp.TLS is nil, and an
	// OriginVerify pin refuses such requests (ConfigError). It has no effect
	// with an http:// proxy: an https:// request is never sent in clear text.
	UseForwardingForHTTPS bool

	// ProxyTLSClientConfig is the TLS configuration for https:// proxies,
	// independent of TLSClientConfig. Nil means system roots and the proxy's
	// host name. ProxyVerify can tighten it.
	ProxyTLSClientConfig *tls.Config

	// ConnectTimeout bounds setting a connection up: dial, TLS to the proxy,
	// CONNECT and TLS to the target (urllib3's connect timeout). Zero means no
	// limit beyond the request's context.
	ConnectTimeout time.Duration

	// ReadTimeout bounds every wait for the next bytes of a response, header
	// and body (urllib3's read timeout). Zero means no limit beyond the
	// request's context.
	ReadTimeout time.Duration

	// OriginVerify and ProxyVerify tighten TLS verification of targets and of
	// https proxies: minimum version, roots, host name assertion, certificate
	// pinning. The zero Policy verifies as crypto/tls does, with TLS 1.2 at least.
	//
	// A pin (Fingerprint) is checked before anything is dialled: a malformed
	// one fails every request from the first use, and a pin for a peer that a
	// request gives ferry no TLS handshake with (an http:// target or proxy, a
	// SOCKS proxy, a target forwarded with UseForwardingForHTTPS, a hop that
	// DialTLSContext dials) fails that request, both with a *ConfigError. A
	// ProxyVerify pin does not affect requests that use no proxy.
	OriginVerify verify.Policy
	ProxyVerify  verify.Policy

	// OnUnverifiedConn, if set, is called once for each new connection on
	// which ferry did a TLS handshake, with the target or with the proxy,
	// without verifying the peer (urllib3 warns with InsecureRequestWarning).
	// A non-nil error refuses the connection and fails the request with it.
	// Nil means no check, no output.
	//
	// It judges the connection, never the request: a connection without TLS
	// is not unverified, and the verdict does not depend on which request
	// opened the connection. With UseForwardingForHTTPS, ferry does no TLS
	// with the target, so a forwarded https:// request through a verified
	// https proxy does not call it (its ConnInfo.IsVerified is still false;
	// as urllib3, which warns only when neither the target nor the proxy was
	// verified); through an unverified proxy it is called for the connection,
	// whether an http:// or an https:// request opened it. A program that
	// must have ferry verify every https:// target leaves
	// UseForwardingForHTTPS off, or checks ConnInfoOf(resp).IsVerified.
	OnUnverifiedConn func(ConnInfo) error

	// ProxyAuth lists the schemes ferry may answer a proxy's 407 with
	// (proxyauth.Basic, *proxyauth.Digest, the nested modules' NTLM and
	// Negotiate, or a scheme of your own). When the proxy offers several,
	// the strongest configured one is used (Negotiate, NTLM, Digest, Basic:
	// curl's order); when it cannot start (no Kerberos ticket), the next one
	// offered. Credentials come from the proxy URL's user information unless
	// the scheme has its own. A CONNECT answered 407 is sent again, on the
	// same connection when the proxy kept it; a forwarded request only when
	// it can be replayed (no body, or GetBody), else the caller gets the
	// 407. After MaxAuthLegs refusals, or when the proxy rejects the
	// credentials, a CONNECT fails with a *ProxyError of status 407 and a
	// forwarded request returns the 407 response. With one scheme, it starts
	// on a connection's first request; with several, after the proxy's
	// first 407, and then on every new connection to that proxy.
	//
	// Nil means ferry sends the proxy URL's credentials as preemptive Basic
	// and hands any 407 to the caller, as net/http does.
	ProxyAuth []proxyauth.Scheme

	// Logger, if set, gets debug records of connections made and reused and
	// of proxy failures. Credentials are never logged. Nil means silent.
	Logger *slog.Logger

	initOnce sync.Once
	s        *settings // frozen at first use
	h2       h2Switches
	h2eng    *conn.H2Engine // nil: HTTP/1.1 only
	pool     *pool.Pool
	connOpts *conn.Options
	keyCache keyCache
	bad      badProxies
	auth     *proxyauth.Auth // from ProxyAuth; nil without
}

var _ http.RoundTripper = (*Transport)(nil)

// RoundTrip sends req and returns its response, following the
// http.RoundTripper contract: req is not modified, req.Body is always closed,
// and err is nil whenever a response was read (whatever its status).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.roundTrip(req)
}

// CloseIdleConnections closes every idle connection. Connections in use are
// not interrupted. http.Client.CloseIdleConnections calls it.
func (t *Transport) CloseIdleConnections() {
	t.init()
	t.pool.CloseIdle()
}

// Clone returns a copy of t's fields, as they are now (also when they were
// changed after t's first use), with its own, empty, connection pool. The
// tls.Configs and header maps are cloned.
func (t *Transport) Clone() *Transport {
	return &Transport{
		Proxy:                  t.Proxy,
		ProxyList:              t.ProxyList,
		BadProxyTimeout:        t.BadProxyTimeout,
		OnProxyConnectResponse: t.OnProxyConnectResponse,
		DialContext:            t.DialContext,
		DialTLSContext:         t.DialTLSContext,
		TLSClientConfig:        t.TLSClientConfig.Clone(),
		TLSHandshakeTimeout:    t.TLSHandshakeTimeout,
		DisableKeepAlives:      t.DisableKeepAlives,
		DisableCompression:     t.DisableCompression,
		MaxIdleConns:           t.MaxIdleConns,
		MaxIdleConnsPerHost:    t.MaxIdleConnsPerHost,
		MaxConnsPerHost:        t.MaxConnsPerHost,
		IdleConnTimeout:        t.IdleConnTimeout,
		ResponseHeaderTimeout:  t.ResponseHeaderTimeout,
		ExpectContinueTimeout:  t.ExpectContinueTimeout,
		ProxyConnectHeader:     t.ProxyConnectHeader.Clone(),
		GetProxyConnectHeader:  t.GetProxyConnectHeader,
		MaxResponseHeaderBytes: t.MaxResponseHeaderBytes,
		WriteBufferSize:        t.WriteBufferSize,
		ReadBufferSize:         t.ReadBufferSize,
		TLSNextProto:           maps.Clone(t.TLSNextProto),
		ForceAttemptHTTP2:      t.ForceAttemptHTTP2,
		Protocols:              clonePtr(t.Protocols),
		HTTP2:                  clonePtr(t.HTTP2),
		ProxyHeader:            t.ProxyHeader.Clone(),
		UseForwardingForHTTPS:  t.UseForwardingForHTTPS,
		ProxyTLSClientConfig:   t.ProxyTLSClientConfig.Clone(),
		ConnectTimeout:         t.ConnectTimeout,
		ReadTimeout:            t.ReadTimeout,
		OriginVerify:           t.OriginVerify,
		ProxyVerify:            t.ProxyVerify,
		OnUnverifiedConn:       t.OnUnverifiedConn,
		Logger:                 t.Logger,
		ProxyAuth:              append([]proxyauth.Scheme(nil), t.ProxyAuth...),
	}
}

// PoolStats is a snapshot of a Transport's connection pool.
type PoolStats = pool.Stats

// PoolStats returns a snapshot of the connection pool: idle and open
// connections, and requests waiting for MaxConnsPerHost.
func (t *Transport) PoolStats() PoolStats {
	t.init()
	return t.pool.Stats()
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

// ---------------------------------------------------------------------------
// Implementation.

func (t *Transport) init() {
	t.initOnce.Do(func() {
		t.s = t.freeze()
		t.pool = pool.New(pool.Options{
			MaxIdleConns:        t.MaxIdleConns,
			MaxIdleConnsPerHost: t.MaxIdleConnsPerHost,
			MaxConnsPerHost:     t.MaxConnsPerHost,
			IdleConnTimeout:     t.IdleConnTimeout,
			DisableKeepAlives:   t.DisableKeepAlives,

			StrictMaxConcurrentStreams: t.HTTP2 != nil && t.HTTP2.StrictMaxConcurrentRequests,
		})
		if len(t.ProxyAuth) > 0 {
			t.auth = proxyauth.New(t.ProxyAuth)
		}
		t.initHTTP2()
		t.connOpts = &conn.Options{
			DialContext:            t.DialContext,
			DialTLSContext:         t.DialTLSContext,
			TLSConfig:              t.TLSClientConfig.Clone(),
			OriginVerify:           t.OriginVerify,
			ProxyTLSConfig:         t.ProxyTLSClientConfig.Clone(),
			ProxyVerify:            t.ProxyVerify,
			ConnectTimeout:         t.ConnectTimeout,
			TLSHandshakeTimeout:    t.TLSHandshakeTimeout,
			ReadTimeout:            t.ReadTimeout,
			ResponseHeaderTimeout:  t.ResponseHeaderTimeout,
			ExpectContinueTimeout:  t.ExpectContinueTimeout,
			MaxResponseHeaderBytes: t.MaxResponseHeaderBytes,
			WriteBufferSize:        t.WriteBufferSize,
			ReadBufferSize:         t.ReadBufferSize,
			OnProxyConnectResponse: t.OnProxyConnectResponse,
		}
	})
}
