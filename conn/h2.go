package conn

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// ALPN protocol IDs.
const (
	ProtoH2    = "h2"
	ProtoHTTP1 = "http/1.1"
)

// OfferHTTP2 makes Connect offer "h2" (before "http/1.1") in the ALPN of the
// TLS handshake with the target (direct, inside a CONNECT tunnel, or over
// SOCKS); only is set when HTTP/1.1 must not be offered at all. The
// handshake with an https proxy never offers h2: ferry speaks CONNECT to it
// as HTTP/1.1. It must be called before Connect.
func (c *Conn) OfferHTTP2(on, only bool) {
	c.offerH2, c.offerH2Only = on, only
}

// OfferHTTP1Only makes Connect offer exactly "http/1.1" in the ALPN of the
// TLS handshake with the target, for a request that needs HTTP/1.1 (an
// Upgrade) from a client that otherwise offers h2. It must be called before
// Connect.
func (c *Conn) OfferHTTP1Only() { c.offerH1 = true }

// NegotiatedProtocol returns the protocol the target chose in ALPN ("h2",
// "http/1.1"), or "" when there was no TLS with the target or no ALPN.
func (c *Conn) NegotiatedProtocol() string {
	if c.tlsState == nil {
		return ""
	}
	return c.tlsState.NegotiatedProtocol
}

// nextProtos is the ALPN list for a handshake: the target's offers h2 when
// OfferHTTP2 asked for it; the proxy's (and the target's otherwise) offers
// HTTP/1.1 at most.
func (c *Conn) nextProtos(protos []string, proxyHop bool) []string {
	if !proxyHop && c.offerH1 {
		return []string{ProtoHTTP1}
	}
	if proxyHop || !c.offerH2 {
		return http11Only(protos)
	}
	if c.offerH2Only {
		return []string{ProtoH2}
	}
	out := make([]string, 0, len(protos)+2)
	out = append(out, ProtoH2)
	for _, p := range http11Only(protos) {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if !slices.Contains(out, ProtoHTTP1) {
		out = append(out, ProtoHTTP1)
	}
	return out
}

// isProxyHop reports whether the handshake about to happen is the one with
// an https proxy: the first TLS of a Conn whose first origin is the proxy.
func (c *Conn) isProxyHop() bool {
	return c.proxy != nil && !isSOCKS(c.proxy.Scheme) && c.first.Scheme == "https" && c.proxyTLSState == nil && !c.proxyHopDone
}

// h2NetConn is the connection as the engine sees it. The engine closes a
// connection at once when a write fails, and its streams with it, even
// those whose last frames already arrived and wait to be read: a server
// that sends GOAWAY and closes (nginx's keepalive_requests), behind a proxy
// that passes the close on, makes the engine's RST_STREAM for the streams
// the GOAWAY left out fail, and answered requests were lost. A failed write
// therefore waits (briefly) for the read side to reach the end of what the
// peer sent before it reports the failure.
type h2NetConn struct {
	net.Conn
	readEnd  chan struct{}
	readOnce sync.Once
	settings settingsReader // only the engine's read goroutine calls Read
	heldErr  error          // a read error that came with bytes, for the next Read
}

// h2DrainWait bounds how long a failed write waits for the reads to end.
const h2DrainWait = time.Second

func newH2NetConn(nc net.Conn, peer *H2Peer) *h2NetConn {
	return &h2NetConn{Conn: nc, readEnd: make(chan struct{}), settings: settingsReader{peer: peer}}
}

// Read passes the engine the next bytes. An error that comes with bytes
// (crypto/tls returns the last data and io.EOF together when the peer's
// close_notify follows it) is held back for the next call: the engine's
// read loop calls again only once it has processed the bytes before, so a
// failed write that waits for the end of the reads (awaitReadEnd) cannot
// close the connection while the last frames, the end of a stream that the
// server did answer, are still unprocessed.
func (h *h2NetConn) Read(p []byte) (int, error) {
	if err := h.heldErr; err != nil {
		h.readFailed()
		return 0, err
	}
	n, err := h.Conn.Read(p)
	if !h.settings.done {
		h.settings.observe(p[:n])
	}
	if err != nil && n > 0 {
		h.heldErr = err
		return n, nil
	}
	if err != nil {
		h.readFailed()
	}
	return n, err
}

// readFailed records that the reads reached their end.
func (h *h2NetConn) readFailed() {
	h.readOnce.Do(func() { close(h.readEnd) })
	if !h.settings.done {
		h.settings.finish(peerUnknown, 0)
	}
}

func (h *h2NetConn) Write(p []byte) (int, error) {
	n, err := h.Conn.Write(p)
	if err != nil {
		h.awaitReadEnd(err)
	}
	return n, err
}

// awaitReadEnd is out of line so that Write's frame stays small: the engine
// writes from a fresh goroutine per stream, and TLS encryption under a
// larger frame made that goroutine's stack grow, a copy per request.
//
//go:noinline
func (h *h2NetConn) awaitReadEnd(err error) {
	if isTimeout(err) {
		return
	}
	t := time.NewTimer(h2DrainWait)
	select {
	case <-h.readEnd:
	case <-t.C:
	}
	t.Stop()
}

// ConnectionState lets the engine report the TLS state it runs over.
func (h *h2NetConn) ConnectionState() tls.ConnectionState {
	if cs, ok := h.Conn.(interface{ ConnectionState() tls.ConnectionState }); ok {
		return cs.ConnectionState()
	}
	return tls.ConnectionState{}
}

// ErrNotHTTP2 is returned by HTTP2 for a connection on which the target did
// not choose HTTP/2.
var ErrNotHTTP2 = errors.New("ferry: connection did not negotiate HTTP/2")

// H2Engine runs HTTP/2 on connections that Connect finished. It is the
// standard library's HTTP/2 (http.Transport.NewClientConn): ferry dials,
// tunnels and verifies, the engine frames. One engine serves every
// connection of a Transport.
type H2Engine struct {
	t *http.Transport
}

// H2Settings configures an H2Engine from the Transport's fields of the same
// names (see http.Transport).
type H2Settings struct {
	HTTP2                  *http.HTTP2Config
	DisableCompression     bool
	DisableKeepAlives      bool
	MaxResponseHeaderBytes int64
	ResponseHeaderTimeout  time.Duration
	ExpectContinueTimeout  time.Duration
}

type h2ConnKey struct{}

// NewH2Engine returns an engine with settings s.
func NewH2Engine(s H2Settings) *H2Engine {
	// The engine never dials: it is handed the finished connection through
	// the context of NewClientConn.
	given := func(ctx context.Context, _, _ string) (net.Conn, error) {
		nc, ok := ctx.Value(h2ConnKey{}).(net.Conn)
		if !ok {
			return nil, errors.New("ferry: HTTP/2 engine asked to dial")
		}
		return nc, nil
	}
	var p http.Protocols
	// Only unencrypted HTTP/2 as far as net/http knows: a plain connection is
	// then spoken to with prior knowledge (h2c), and a TLS one whose ALPN chose
	// h2 gets HTTP/2 anyway. Whether to use the engine at all is ferry's choice.
	p.SetUnencryptedHTTP2(true)
	t := &http.Transport{
		DialContext:            given,
		DialTLSContext:         given,
		Protocols:              &p,
		DisableCompression:     s.DisableCompression,
		DisableKeepAlives:      s.DisableKeepAlives,
		MaxResponseHeaderBytes: s.MaxResponseHeaderBytes,
		ResponseHeaderTimeout:  s.ResponseHeaderTimeout,
		ExpectContinueTimeout:  s.ExpectContinueTimeout,
	}
	if s.HTTP2 != nil {
		cfg := *s.HTTP2
		t.HTTP2 = &cfg
	}
	return &H2Engine{t: t}
}

// ClientConn starts HTTP/2 on c, which Connect finished: TLS with the target
// chose "h2", or prior is set (h2c with prior knowledge on a plain
// connection). From then on the returned ClientConn owns the network
// connection; c only describes it (TLS states, verification).
func (e *H2Engine) ClientConn(c *Conn, prior bool) (*http.ClientConn, error) {
	if !c.connected {
		return nil, ErrNotConnected
	}
	if prior && c.tlsState != nil || !prior && c.NegotiatedProtocol() != ProtoH2 {
		return nil, ErrNotHTTP2
	}
	// The engine gets the connection as a plain one (net/http's "http"
	// scheme with only unencrypted HTTP/2 on: prior knowledge), whatever it
	// carries: TLS was done and checked here, and the wrapper below must sit
	// between the engine and the TLS connection. A context of its own: the
	// caller's cancellation must not reach a connection that outlives the
	// request.
	peer := &H2Peer{}
	ctx := context.WithValue(context.Background(), h2ConnKey{}, newH2NetConn(c.nc, peer))
	addr := c.first.Addr()
	if c.tunnel != nil {
		addr = c.tunnel.Addr()
	}
	cc, err := e.t.NewClientConn(ctx, "http", addr)
	if err != nil {
		c.nc.Close()
		return nil, err
	}
	c.h2peer = peer
	return cc, nil
}

// H2Peer returns what ferry read of the server's first SETTINGS frame on a
// connection that ClientConn started, or nil.
func (c *Conn) H2Peer() *H2Peer { return c.h2peer }
