package conn

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http/httptrace"

	"time"

	"github.com/ferryhttp/ferry/proxyconfig"
	"github.com/ferryhttp/ferry/verify"
)

// connect is Connect on one connection (see auth.go for Connect itself,
// which dials again when a proxy closes after its 407).
func (c *Conn) connect(ctx context.Context) (err error) {
	if c.connected {
		return nil
	}
	parent := ctx
	defer func() {
		// When the caller's context ended, its error is the cause, whatever
		// the step saw (a dialer reports its own "i/o timeout" for the
		// context's deadline, sometimes before the context says so).
		if err != nil {
			if cerr := endedErr(parent); cerr != nil && !errors.Is(err, cerr) {
				err = withCause(err, cerr)
			}
		}
	}()
	if t := c.opts.ConnectTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
		defer func() {
			// Whatever failed once ConnectTimeout expired failed because of
			// it (a read cut short, a handshake interrupted): say so, with
			// the stage, even when the error already is a timeout. The
			// caller's own deadline or cancellation is not ours to rename.
			if err != nil && parent.Err() == nil && !expired(parent) && expired(ctx) {
				err = c.timeoutErr(err, "ConnectTimeout", t)
			}
		}()
	}
	defer func() {
		if err != nil {
			// A half-made connection is discarded: close the socket, never
			// wait for a TLS close_notify to go out.
			if c.raw != nil {
				c.raw.Close()
			} else if c.nc != nil {
				c.nc.Close()
			}
			c.nc, c.raw = nil, nil
		}
	}()
	c.hasConnectedToProxy, c.proxyHopDone = false, false
	if c.tunnel != nil {
		// Refuse a malformed tunnel target (CR/LF, spaces, bad port) before
		// dialling anything.
		if _, err := proxyconfig.Authority(c.tunnel.Host, c.tunnel.Port); err != nil {
			return err
		}
	}
	c.stage = "dial"
	if c.proxy != nil && isSOCKS(c.proxy.Scheme) {
		return c.connectSOCKS(ctx)
	}

	firstTLS := c.first.Scheme == "https"
	if firstTLS && c.opts.DialTLSContext != nil {
		nc, err := c.opts.DialTLSContext(ctx, "tcp", c.first.Addr())
		if err != nil {
			return c.proxyErr(err)
		}
		c.nc, c.raw = nc, innermost(nc)
		c.hasConnectedToProxy = c.proxy != nil
		c.proxyHopDone = c.proxy != nil
		if tc, ok := nc.(interface{ ConnectionState() tls.ConnectionState }); ok {
			st := tc.ConnectionState()
			verified := len(st.VerifiedChains) > 0
			if c.proxy != nil {
				c.proxyTLSState, c.isProxyVerified = &st, verified
			} else {
				c.tlsState, c.isVerified = &st, verified
			}
		}
	} else {
		nc, err := c.dial(ctx, c.first.Addr())
		if err != nil {
			return c.proxyErr(err)
		}
		c.nc, c.raw = nc, nc
		c.hasConnectedToProxy = c.proxy != nil
		if firstTLS {
			c.stage = "TLS handshake"
			base, policy := c.opts.TLSConfig, c.opts.OriginVerify
			if c.proxy != nil {
				base, policy = c.opts.ProxyTLSConfig, c.opts.ProxyVerify
			}
			tc, st, verified, err := c.handshake(ctx, c.nc, c.first.Host, base, policy)
			if err != nil {
				return c.proxyErr(err)
			}
			c.nc = tc
			if c.proxy != nil {
				c.proxyTLSState, c.isProxyVerified = st, verified
			} else {
				c.tlsState, c.isVerified = st, verified
			}
		}
	}

	if c.tunnel != nil && c.proxy != nil {
		c.stage = "CONNECT"
		if err := c.connectTunnel(ctx); err != nil {
			return err
		}
		if c.tunnel.Scheme == "https" {
			c.stage = "TLS handshake"
			tc, st, verified, err := c.handshake(ctx, c.nc, c.tunnel.Host, c.opts.TLSConfig, c.opts.OriginVerify)
			if err != nil {
				return err
			}
			c.nc, c.tlsState, c.isVerified = tc, st, verified
		}
	}
	c.setUp()
	return nil
}

// setUp makes the buffers for a freshly connected nc.
func (c *Conn) setUp() {
	if c.br == nil {
		c.br = bufio.NewReaderSize(rawIO{c}, c.opts.readBufferSize())
		c.bw = bufio.NewWriterSize(rawIO{c}, c.opts.writeBufferSize())
	} else {
		c.br.Reset(rawIO{c})
		c.bw.Reset(rawIO{c})
	}
	c.readLimit = -1
	c.connected = true
	c.reusable = true
	c.requests = 0
	c.createdAt = time.Now()
}

func (c *Conn) dial(ctx context.Context, addr string) (net.Conn, error) {
	if c.opts.DialContext != nil {
		return c.opts.DialContext(ctx, "tcp", addr)
	}
	var d net.Dialer
	d.KeepAlive = 30 * time.Second
	return d.DialContext(ctx, "tcp", addr)
}

// handshake runs a TLS client handshake over nc with the peer host, using
// base tightened by policy. It reports the state and whether the peer was
// verified. The state's VerifiedChains are the chains the policy verified
// (crypto/tls itself verifies nothing under a policy's config).
func (c *Conn) handshake(ctx context.Context, nc net.Conn, host string, base *tls.Config, policy verify.Policy) (net.Conn, *tls.ConnectionState, bool, error) {
	var chains [][]*x509.Certificate
	capture := &tls.Config{}
	if base != nil {
		capture = base.Clone()
	}
	// The policy calls the base's VerifyConnection after its own checks,
	// with the chains it verified: keep them, then defer to the caller's.
	next := capture.VerifyConnection
	capture.VerifyConnection = func(cs tls.ConnectionState) error {
		chains = cs.VerifiedChains
		if next != nil {
			return next(cs)
		}
		return nil
	}
	cfg, err := policy.Config(capture, host)
	if err != nil {
		return nil, nil, false, err
	}
	// h2 only where OfferHTTP2 asked for it, and never to a proxy: a
	// NextProtos offering "h2" (common in configs shared with net/http) would
	// otherwise let a server switch to frames the connection is not run with.
	cfg.NextProtos = c.nextProtos(cfg.NextProtos, c.isProxyHop())
	outer := ctx
	if t := c.opts.TLSHandshakeTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	trace := httptrace.ContextClientTrace(ctx)
	if trace != nil && trace.TLSHandshakeStart != nil {
		trace.TLSHandshakeStart()
	}
	tc := tls.Client(nc, cfg)
	err = tc.HandshakeContext(ctx)
	st := tc.ConnectionState()
	if err == nil && len(st.VerifiedChains) == 0 {
		st.VerifiedChains = chains
	}
	if trace != nil && trace.TLSHandshakeDone != nil {
		trace.TLSHandshakeDone(st, err)
	}
	if err != nil {
		if t := c.opts.TLSHandshakeTimeout; t > 0 && outer.Err() == nil && !expired(outer) && expired(ctx) {
			err = &TimeoutError{Op: "connect", Stage: "TLS handshake", Setting: "TLSHandshakeTimeout", Limit: t, Err: err}
		}
		return nil, nil, false, err
	}
	return tc, &st, policy.Verifies(base), nil
}

// proxyErr wraps err in a ProxyError when the failing step was the proxy's
// (the first origin is the proxy).
func (c *Conn) proxyErr(err error) error {
	if c.proxy == nil {
		return err
	}
	var pe *ProxyError
	if errors.As(err, &pe) {
		return err
	}
	return &ProxyError{Proxy: redactedProxy(c.proxy), HasConnectedToProxy: c.hasConnectedToProxy, Err: err}
}

// timeoutErr wraps err, a failure of Connect after the limit setting expired,
// in a *TimeoutError naming the stage; inside the *ProxyError when err is one,
// so a proxy's failure stays the proxy's. An err that already is a
// TimeoutError (a TLSHandshakeTimeout) is kept.
func (c *Conn) timeoutErr(err error, setting string, limit time.Duration) error {
	var te *TimeoutError
	if errors.As(err, &te) {
		return err
	}
	wrap := func(e error) error {
		return &TimeoutError{Op: "connect", Stage: c.stage, Setting: setting, Limit: limit, Err: e}
	}
	var pe *ProxyError
	if errors.As(err, &pe) {
		cp := *pe
		cp.Err = wrap(pe.Err)
		return &cp
	}
	return wrap(err)
}

// expired reports whether ctx's deadline has passed, also when its timer has
// not fired yet: a dialer or SOCKS client that set ctx's deadline on the
// socket can report the timeout first.
func expired(ctx context.Context) bool {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// endedErr returns ctx's error, or context.DeadlineExceeded when its
// deadline passed and its timer has not fired yet; nil while ctx runs.
func endedErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// withCause makes err also match cause (the context's error), inside the
// *ProxyError when err is one, keeping what err matched.
func withCause(err, cause error) error {
	var pe *ProxyError
	if errors.As(err, &pe) {
		cp := *pe
		cp.Err = fmt.Errorf("%w (%w)", cause, pe.Err)
		return &cp
	}
	return fmt.Errorf("%w (%w)", cause, err)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func isSOCKS(scheme string) bool { return scheme == "socks5" || scheme == "socks5h" }

func (e Endpoint) String() string { return fmt.Sprintf("%s://%s", e.Scheme, e.Addr()) }

// http11Only returns protos without "h2" and anything after HTTP/1.1 that
// ferry cannot speak; nil stays nil (no ALPN, as net/http without HTTP/2).
func http11Only(protos []string) []string {
	if len(protos) == 0 {
		return protos
	}
	out := make([]string, 0, len(protos))
	for _, p := range protos {
		if p == "http/1.1" || p == "http/1.0" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		out = append(out, "http/1.1")
	}
	return out
}
