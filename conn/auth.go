package conn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
)

// MaxAuthLegs bounds how many requests one exchange sends to a proxy that
// answers 407: enough for NTLM's three legs after a stale Digest nonce, and
// no loop with a proxy that keeps asking.
const MaxAuthLegs = 5

// ErrAuthLegs is wrapped by the error of an exchange that gave up after
// MaxAuthLegs requests all answered 407.
var ErrAuthLegs = errors.New("ferry: proxy kept asking for authentication")

// ProxyAuth answers a proxy's 407 for one connection; ferry's Transport
// gives each connection to a proxy a *proxyauth.Session. Its state (an NTLM
// handshake, the Digest nonce in use) lives as long as the Conn's connection.
type ProxyAuth interface {
	// Authorization returns the Proxy-Authorization value for the next leg
	// of a request (method and request target as sent), or "" for none.
	// challenge is the header of the 407 the previous leg got, nil on a
	// request's first leg. An error after a 407 means giving up: the 407
	// goes to the caller.
	Authorization(method, target string, challenge http.Header) (string, error)
	// Reset ends the connection's authentication: the connection closed, or
	// its conversation with the proxy is over (a tunnel was established).
	Reset()
}

// authState is the Conn's part of proxy authentication.
type authState struct {
	pa   ProxyAuth
	legs int // CONNECT requests sent by the current Connect
	// next is the Proxy-Authorization for the next CONNECT leg on this
	// connection, computed from its 407; "" when the next leg asks ProxyAuth
	// for a first leg (a 407 never leaves an empty one: it ends Connect).
	next string
}

// SetProxyAuth makes the Conn answer a proxy's 407 with a: a CONNECT during
// Connect, and (through ProxyAuth) forwarded requests, which the Transport
// re-sends. It must be called before Connect.
func (c *Conn) SetProxyAuth(a ProxyAuth) { c.auth.pa = a }

// ProxyAuth returns what SetProxyAuth set, or nil.
func (c *Conn) ProxyAuth() ProxyAuth { return c.auth.pa }

// errAuthReconnect: the proxy closed the connection after a 407 the
// ProxyAuth can answer; Connect dials again.
var errAuthReconnect = errors.New("ferry: proxy closed the connection after 407")

// Connect dials the first origin and sets the connection up: TLS to an https
// proxy, the CONNECT tunnel (after SetTunnel), then TLS to an https target.
// ConnectTimeout bounds all of it, TLSHandshakeTimeout each handshake; either
// expiring gives a *TimeoutError naming the limit and the stage. ctx cancels
// it, and then ctx's error is what comes back. Failures that are the proxy's
// are *ProxyError (wrapping the TimeoutError when a limit expired); a dial
// failure without a proxy is the dialer's *net.OpError and a TLS failure with
// the target is crypto/tls's error (*tls.CertificateVerificationError for a
// bad certificate), unwrapped.
//
// With SetProxyAuth, a CONNECT answered 407 is sent again with credentials:
// on the same connection when the proxy kept it open, on a new one when it
// closed it (a connection-bound scheme then starts over there; each such
// connection has its own ConnectTimeout), at most MaxAuthLegs CONNECTs in
// all. When the proxy still refuses, the *ProxyError has StatusCode 407 and
// the proxy's challenge in Header. OnProxyConnectResponse sees every reply.
func (c *Conn) Connect(ctx context.Context) error {
	if c.auth.pa == nil || c.tunnel == nil || c.proxy == nil || isSOCKS(c.proxy.Scheme) || c.connected {
		return c.connect(ctx)
	}
	c.auth.legs, c.auth.next = 0, ""
	for {
		err := c.connect(ctx)
		if err != errAuthReconnect {
			return err
		}
		c.auth.pa.Reset()
	}
}

// authorizeConnect puts the Proxy-Authorization of the next CONNECT leg on
// req (a copy of its header, which belongs to the Transport).
func (c *Conn) authorizeConnect(req *http.Request) {
	if c.auth.pa == nil {
		return
	}
	v := c.auth.next
	if v == "" {
		v, _ = c.auth.pa.Authorization(http.MethodConnect, req.Host, nil)
	}
	c.auth.next = ""
	c.auth.legs++
	if v == "" {
		return
	}
	h := req.Header.Clone() // never nil: connectTunnel made req.Header
	h.Set("Proxy-Authorization", v)
	req.Header = h
}

// answerConnect407 answers a 407 to CONNECT, whose body ref holds: the next
// leg on this connection (returning what that leg's exchange returns),
// errAuthReconnect, or the ProxyError that ends it.
func (c *Conn) answerConnect407(ctx context.Context, req *http.Request, resp *http.Response, br *bufio.Reader, ref *refusal) error {
	next, aerr := c.auth.pa.Authorization(http.MethodConnect, req.Host, resp.Header)
	if aerr == nil && next == "" {
		aerr = errors.New("no credentials to send")
	}
	if aerr == nil && c.auth.legs >= MaxAuthLegs {
		aerr = fmt.Errorf("%w (%d requests)", ErrAuthLegs, c.auth.legs)
	}
	if aerr != nil {
		c.auth.pa.Reset()
		return c.tunnelErr(ctx, fmt.Errorf("%w: %s: %w", ErrConnectRefused, resp.Status, aerr), ref)
	}
	if !ref.complete || resp.Close || br.Buffered() > 0 {
		return errAuthReconnect
	}
	c.auth.next = next
	return c.connectTunnel(ctx)
}

// endProxyAuth ends the connection's proxy authentication, if it has any:
// a tunnel is up, the connection closed, or its handshake was abandoned.
func (c *Conn) endProxyAuth() {
	if c.auth.pa != nil {
		c.auth.pa.Reset()
	}
}

// AbandonProxyAuth gives up answering the proxy's 407 on this connection
// (the request cannot be replayed, or the credentials were rejected): the
// handshake state is dropped and the connection is not reused once the 407
// is read, since a proxy holds a half-done NTLM handshake against the
// connection and would refuse a new one on it.
func (c *Conn) AbandonProxyAuth() {
	c.reusable = false
	c.endProxyAuth()
}
