package ferry

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/ferryhttp/ferry/conn"
	"github.com/ferryhttp/ferry/pool"
	"github.com/ferryhttp/ferry/verify"
)

// Transport is an http.RoundTripper for HTTP/1.1 with urllib3's connection,
// pool and proxy semantics. Use it where an *http.Transport would go:
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
// Its fields must not be changed after its first use.
type Transport struct {
	// Proxy returns the proxy for a request, or nil for none, as in
	// http.Transport. Schemes http, https (TLS to the proxy), socks5 and
	// socks5h are supported; the mode table in the package documentation
	// says how each target is sent. Nil means no proxy.
	Proxy func(*http.Request) (*url.URL, error)

	// OnProxyConnectResponse is called with the proxy's 2xx reply to a
	// CONNECT, as in http.Transport; a non-nil error aborts the connection.
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

	// ProxyHeader is urllib3's proxy_headers: sent to the proxy on CONNECT in
	// tunnel mode and on every request in forward mode. Never sent to a
	// target through a tunnel. Per-request additions come from WithProxyHeader.
	ProxyHeader http.Header

	// UseForwardingForHTTPS sends https:// requests to an https:// proxy in
	// absolute form over the TLS connection to the proxy, instead of a CONNECT
	// tunnel; the proxy then speaks TLS with the target (urllib3's
	// use_forwarding_for_https). ferry does not see the target's certificate,
	// so such responses report IsVerified false. It has no effect with an
	// http:// proxy: an https:// request is never sent in clear text.
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
	OriginVerify verify.Policy
	ProxyVerify  verify.Policy

	// OnUnverifiedConn, if set, is called once for each new connection on
	// which TLS with the target or the proxy was done without verification
	// (urllib3 warns with InsecureRequestWarning). A non-nil error refuses the
	// connection and fails the request with it. Nil means no check, no output.
	OnUnverifiedConn func(ConnInfo) error

	// Logger, if set, gets debug records of connections made and reused and
	// of proxy failures. Credentials are never logged. Nil means silent.
	Logger *slog.Logger

	initOnce sync.Once
	s        *settings // frozen at first use
	pool     *pool.Pool
	connOpts *conn.Options
	keyCache keyCache
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

// Clone returns a copy of t's settings with its own, empty, connection pool.
func (t *Transport) Clone() *Transport {
	return &Transport{
		Proxy:                  t.Proxy,
		OnProxyConnectResponse: t.OnProxyConnectResponse,
		DialContext:            t.DialContext,
		DialTLSContext:         t.DialTLSContext,
		TLSClientConfig:        cloneTLS(t.TLSClientConfig),
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
		ProxyHeader:            t.ProxyHeader.Clone(),
		UseForwardingForHTTPS:  t.UseForwardingForHTTPS,
		ProxyTLSClientConfig:   cloneTLS(t.ProxyTLSClientConfig),
		ConnectTimeout:         t.ConnectTimeout,
		ReadTimeout:            t.ReadTimeout,
		OriginVerify:           t.OriginVerify,
		ProxyVerify:            t.ProxyVerify,
		OnUnverifiedConn:       t.OnUnverifiedConn,
		Logger:                 t.Logger,
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

func cloneTLS(c *tls.Config) *tls.Config {
	if c == nil {
		return nil
	}
	return c.Clone()
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
		})
		t.connOpts = &conn.Options{
			DialContext:            t.DialContext,
			DialTLSContext:         t.DialTLSContext,
			TLSConfig:              cloneTLS(t.TLSClientConfig),
			OriginVerify:           t.OriginVerify,
			ProxyTLSConfig:         cloneTLS(t.ProxyTLSClientConfig),
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
