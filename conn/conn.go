package conn

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/ferryhttp/ferry/verify"
)

// DefaultMaxResponseHeaderBytes is the limit on a response header (and on a
// CONNECT reply) when Options.MaxResponseHeaderBytes is zero, as in net/http.
const DefaultMaxResponseHeaderBytes = 10 << 20

// Options are the settings a Conn reads; the Transport builds one per route
// and shares it, read-only, between the connections of that route.
type Options struct {
	// DialContext dials TCP connections (to the target, or to the proxy).
	// Nil means a net.Dialer with a 30 s keep-alive.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// DialTLSContext, when set, replaces DialContext and the TLS handshake for a
	// first origin that speaks TLS (an https target without proxy, or an https
	// proxy), as in net/http. The returned conn is assumed to have done TLS.
	DialTLSContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// TLSConfig is the base TLS configuration for the target; OriginVerify
	// tightens it. It is cloned, never mutated.
	TLSConfig    *tls.Config
	OriginVerify verify.Policy
	// ProxyTLSConfig is the base TLS configuration for an https proxy;
	// ProxyVerify tightens it. Independent of TLSConfig.
	ProxyTLSConfig *tls.Config
	ProxyVerify    verify.Policy

	// ConnectTimeout bounds Connect as a whole: dial, TLS to the proxy, CONNECT
	// and TLS to the target. Zero means no limit beyond the context.
	ConnectTimeout time.Duration
	// TLSHandshakeTimeout bounds each TLS handshake. Zero means no limit.
	TLSHandshakeTimeout time.Duration
	// ReadTimeout bounds every wait for the next bytes of a response (headers
	// and body). Zero means no limit beyond the context.
	ReadTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the response header once the
	// request is written. Zero means no limit.
	ResponseHeaderTimeout time.Duration
	// ExpectContinueTimeout is how long to wait for a 100 Continue before
	// sending the body of a request with "Expect: 100-continue". Zero sends
	// the body at once.
	ExpectContinueTimeout time.Duration
	// MaxResponseHeaderBytes limits the response header; zero means
	// DefaultMaxResponseHeaderBytes.
	MaxResponseHeaderBytes int64
	// WriteBufferSize and ReadBufferSize size the connection's buffers; zero means 4 KiB.
	WriteBufferSize, ReadBufferSize int

	// OnProxyConnectResponse is called with every reply of the proxy to a
	// CONNECT, before its status is checked, as in net/http: a 407 or 403 is
	// seen here too (its body, up to 64 KiB, is readable from connectRes.Body).
	// An error from it aborts the connection and is returned wrapped in a
	// *ProxyError (errors.Is finds it); otherwise a reply other than 2xx is
	// still a *ProxyError wrapping ErrConnectRefused.
	OnProxyConnectResponse func(ctx context.Context, proxyURL *url.URL, connectReq *http.Request, connectRes *http.Response) error
}

func (o *Options) maxHeaderBytes() int64 {
	if o.MaxResponseHeaderBytes > 0 {
		return o.MaxResponseHeaderBytes
	}
	return DefaultMaxResponseHeaderBytes
}

func (o *Options) readBufferSize() int {
	if o.ReadBufferSize > 0 {
		return o.ReadBufferSize
	}
	return 4 << 10
}

func (o *Options) writeBufferSize() int {
	if o.WriteBufferSize > 0 {
		return o.WriteBufferSize
	}
	return 4 << 10
}

// Endpoint names where a connection goes: the scheme says whether TLS is
// spoken with it.
type Endpoint struct {
	Scheme string // "http" or "https"
	Host   string // name or IP, without brackets
	Port   string
}

// Addr returns host:port, with IPv6 hosts bracketed.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.Host, e.Port) }

// Conn is one HTTP/1.1 connection to its first origin: the target, or the proxy.
// It follows urllib3's HTTPConnection: New, SetTunnel, Connect, Request,
// GetResponse, and Close (after which Connect may be called again).
//
// A Conn carries one request at a time. During a request the caller's
// goroutine reads the response while, for requests with a body, a second
// goroutine (owned by the Conn and finished before GetResponse returns)
// writes the body.
type Conn struct {
	h2peer *H2Peer // set by H2Engine.ClientConn
	first  Endpoint
	proxy  *url.URL // nil without a proxy
	opts   *Options

	tunnel       *Endpoint   // set by SetTunnel: the target inside a CONNECT tunnel
	tunnelHeader http.Header // headers for the CONNECT request
	auth         authState   // proxy authentication (auth.go)

	// Set by Connect, cleared by Close.
	nc                  net.Conn // outermost conn: TLS to the target, or whatever is first
	raw                 net.Conn // innermost conn: the socket (closed at once when discarding)
	stage               string   // the step of Connect under way, for TimeoutError
	br                  *bufio.Reader
	bw                  *bufio.Writer
	connected           bool
	hasConnectedToProxy bool
	isVerified          bool
	isProxyVerified     bool
	tlsState            *tls.ConnectionState
	proxyTLSState       *tls.ConnectionState
	createdAt           time.Time
	peek                *peeker // made by Alive on first use
	offerH2             bool    // OfferHTTP2: offer h2 to the target
	offerH2Only         bool
	offerH1             bool // OfferHTTP1Only
	proxyHopDone        bool // the first hop to the proxy is set up (DialTLSContext)

	// Per request; owned by the goroutine running Request/GetResponse.
	req       *http.Request // the caller's request
	wireReq   http.Request  // the copy that goes on the wire
	wireHdr   http.Header   // reusable header map for wireReq
	wirePA    [1]string     // reusable value of wireHdr's Proxy-Authorization
	forward   bool
	inFlight  bool
	reusable  bool
	writer    *bodyWriter // non-nil while a body is being written
	writeErr  error
	headerDue atomic.Int64 // unix nanos: deadline for the response header (ResponseHeaderTimeout); 0 none
	readLimit int64        // bytes left for the response header; <0: no limit
	readAny   atomic.Int64
	wroteAny  atomic.Int64
	requests  int // requests started on this connection
	ctx       context.Context
	stopWatch func() bool // stops the context watch of the current request
	canceled  atomic.Bool // the current request's context ended (set by its watcher)
	// lastReadErr is the last error a read of nc returned (reader goroutine only).
	lastReadErr error

	// netWriteErr is the first error the network gave a write of the current
	// request (set by whichever goroutine writes).
	netWriteErr atomic.Pointer[wrappedErr]
}

type wrappedErr struct{ err error }

// New returns a Conn to first (the target, or the proxy when proxy is set),
// not yet connected. opts must not change afterwards.
func New(first Endpoint, proxy *url.URL, opts *Options) *Conn {
	if opts == nil {
		opts = &Options{}
	}
	return &Conn{first: first, proxy: proxy, opts: opts}
}

// SetTunnel makes Connect open a CONNECT tunnel through the proxy to host:port
// and, for scheme "https", TLS to the target inside it. header goes on the
// CONNECT request only. It must be called before Connect.
func (c *Conn) SetTunnel(host, port, scheme string, header http.Header) {
	c.tunnel = &Endpoint{Scheme: scheme, Host: host, Port: port}
	c.tunnelHeader = header
}

// First returns the endpoint the Conn dials: the target, or the proxy.
func (c *Conn) First() Endpoint { return c.first }

// Proxy returns the proxy URL, or nil.
func (c *Conn) Proxy() *url.URL { return c.proxy }

// Connected reports whether Connect succeeded and Close has not been called since.
func (c *Conn) Connected() bool { return c.connected }

// HasConnectedToProxy reports whether a TCP connection to the proxy was made
// (urllib3's has_connected_to_proxy).
func (c *Conn) HasConnectedToProxy() bool { return c.hasConnectedToProxy }

// IsVerified reports whether TLS with the target was verified (chain and name,
// or a pinned fingerprint). False when no TLS with the target was done.
func (c *Conn) IsVerified() bool { return c.isVerified }

// IsProxyVerified reports whether TLS with the proxy was verified. False for
// plain-text proxies and without a proxy.
func (c *Conn) IsProxyVerified() bool { return c.isProxyVerified }

// TLS returns the state of TLS with the target, or nil.
func (c *Conn) TLS() *tls.ConnectionState { return c.tlsState }

// ProxyTLS returns the state of TLS with the proxy, or nil.
func (c *Conn) ProxyTLS() *tls.ConnectionState { return c.proxyTLSState }

// NetConn returns the underlying connection (for httptrace's GotConnInfo).
func (c *Conn) NetConn() net.Conn { return c.nc }

// Requests returns how many requests were started on this connection since Connect.
func (c *Conn) Requests() int { return c.requests }

// Reusable reports whether the last response was read completely and the
// connection may carry another request.
func (c *Conn) Reusable() bool { return c.connected && !c.inFlight && c.reusable }

// WriteErr returns the error that stopped the last request's body from being
// written when a response was read anyway (ErrEarlyResponse, or EPIPE/ECONNRESET
// wrapped), or nil.
func (c *Conn) WriteErr() error { return c.writeErr }

// Close closes the connection. A closed Conn can Connect again.
//
// An idle connection whose last exchange finished cleanly is closed politely
// (TLS close_notify); any other is discarded: its socket is closed at once,
// because a peer that stopped reading would make a TLS close wait for the
// network (crypto/tls gives close_notify up to 5 s).
func (c *Conn) Close() error {
	return c.close(!c.Reusable())
}

// close closes the connection, at once when abort is set, and drops
// everything the Conn held for its last request.
func (c *Conn) close(abort bool) error {
	if c.writer != nil {
		abort = true
		c.stopWriter()
		c.writer = nil
	}
	c.stopWatching()
	var err error
	switch {
	case c.nc == nil:
	case abort && c.raw != nil:
		err = c.raw.Close()
	default:
		err = c.nc.Close()
	}
	c.nc, c.raw = nil, nil
	c.peek = nil
	c.connected = false
	c.inFlight = false
	c.reusable = false
	c.isVerified, c.isProxyVerified, c.hasConnectedToProxy = false, false, false
	c.tlsState, c.proxyTLSState = nil, nil
	c.dropRequest()
	c.endProxyAuth() // state bound to this connection ends with it
	return err
}

// Abort closes the network connection at once, without waiting on the peer
// and without touching the rest of the Conn's state: it is the one method
// that may be called while another goroutine reads a response (to stop that
// read). The Conn must then be Closed or dropped.
func (c *Conn) Abort() {
	if c.raw != nil {
		c.raw.Close()
	} else if c.nc != nil {
		c.nc.Close()
	}
}

// dropRequest forgets every reference to the last request, so that an idle
// connection does not keep the caller's request (its body, GetBody, context)
// alive while it waits in the pool.
func (c *Conn) dropRequest() {
	c.req = nil
	c.wireReq = http.Request{}
	// The map is the Conn's, for reuse; its values are the caller's slices.
	clear(c.wireHdr)
	c.wirePA[0] = ""
	c.ctx = nil
	c.lastReadErr = nil
	c.netWriteErr.Store(nil)
}

// rawIO is the Conn's view of nc for its buffers: it applies the read timeout
// and the header size limit to reads, counts bytes, and fails writes after the
// writer was stopped.
type rawIO struct{ c *Conn }

var aLongTimeAgo = time.Unix(1, 0)

func (r rawIO) Read(p []byte) (int, error) {
	c := r.c
	if c.readLimit == 0 {
		return 0, ErrResponseHeaderTooLarge
	}
	if c.readLimit > 0 && int64(len(p)) > c.readLimit {
		p = p[:c.readLimit]
	}
	if d := c.readDeadline(); !d.IsZero() {
		c.nc.SetReadDeadline(d)
		// The context may have ended between the check and the deadline we
		// just set, which would have replaced the one its watcher set.
		if c.canceled.Load() {
			c.nc.SetReadDeadline(aLongTimeAgo)
		}
	}
	n, err := c.nc.Read(p)
	if err != nil {
		// bufio.Reader.ReadLine drops an error that follows a partial
		// line, so http.ReadResponse would call a timeout mid-header
		// "malformed"; keep the network's own word for it.
		c.lastReadErr = err
	}
	if c.readLimit > 0 {
		c.readLimit -= int64(n)
	}
	if n > 0 {
		c.readAny.Add(int64(n))
	}
	return n, err
}

func (c *Conn) readDeadline() time.Time {
	var d time.Time
	if c.opts.ReadTimeout > 0 {
		d = time.Now().Add(c.opts.ReadTimeout)
	}
	if hd := c.headerDue.Load(); hd != 0 {
		if h := time.Unix(0, hd); d.IsZero() || h.Before(d) {
			d = h
		}
	}
	return d
}

func (r rawIO) Write(p []byte) (int, error) {
	n, err := r.c.nc.Write(p)
	if n > 0 {
		r.c.wroteAny.Add(int64(n))
	}
	if err != nil {
		r.c.netWriteErr.CompareAndSwap(nil, &wrappedErr{err})
	}
	return n, err
}

// ReadFrom lets bufio.Writer hand a request body to the connection in large
// writes (the socket's own ReadFrom: 32 KiB chunks, or splice/sendfile)
// instead of one 4 KiB buffer at a time, as net/http's persistConnWriter does.
func (r rawIO) ReadFrom(src io.Reader) (int64, error) {
	cr := &capturingReader{r: src}
	n, err := io.Copy(r.c.nc, cr)
	if n > 0 {
		r.c.wroteAny.Add(n)
	}
	if err != nil && err != cr.err {
		r.c.netWriteErr.CompareAndSwap(nil, &wrappedErr{err})
	}
	return n, err
}

// capturingReader remembers its reader's error, so ReadFrom can tell the
// body's failures from the network's.
type capturingReader struct {
	r   io.Reader
	err error
}

func (c *capturingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// prefixConn is a net.Conn whose first reads come from bytes already buffered
// (what a proxy sent right after its CONNECT reply).
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (p *prefixConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// innermost returns the connection under any TLS layers of nc (as returned
// by a DialTLSContext), so it can be closed without a close_notify.
func innermost(nc net.Conn) net.Conn {
	for range 8 {
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		inner := u.NetConn()
		if inner == nil {
			break
		}
		nc = inner
	}
	return nc
}
