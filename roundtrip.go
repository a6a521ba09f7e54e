package ferry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/ferryhttp/ferry/conn"
	"github.com/ferryhttp/ferry/pool"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// Errors for requests refused before anything is sent.
var (
	// ErrInvalidRequest is wrapped by every error for a request that cannot be
	// sent as it is: nil URL, unsupported scheme, missing host, a port that is
	// not 1 to 65535, bad method, header names or values with CR, LF or NUL.
	// Nothing is dialled for such a request, whatever the mode.
	ErrInvalidRequest = errors.New("ferry: invalid request")
)

var gzipOnly = []string{"gzip"}

// acceptGzip is shared by requests and only read.
var acceptGzip = http.Header{"Accept-Encoding": gzipOnly}

func (t *Transport) roundTrip(req *http.Request) (*http.Response, error) {
	t.init()
	s := t.s
	if s.err != nil {
		closeReqBody(req)
		return nil, s.err
	}
	if err := validateRequest(req); err != nil {
		closeReqBody(req)
		return nil, err
	}
	if s.proxyList != nil {
		return t.roundTripList(req)
	}
	r, err := t.route(req)
	if err != nil {
		closeReqBody(req)
		return nil, err
	}
	resp, _, err := t.send(req, &r, false)
	return resp, err
}

// send sends req on route r, with one more try on a fresh connection when a
// reused one turned out dead. With failover set, a failure that allows the
// next entry of a proxy list (nothing of req reached the proxy; see
// canFailover) returns next true and leaves req.Body open for that entry.
func (t *Transport) send(req *http.Request, r *route, failover bool) (resp *http.Response, next bool, err error) {
	s := t.s
	ctx := req.Context()
	trace := httptrace.ContextClientTrace(ctx)

	ropts := conn.RequestOptions{
		Forward: r.mode == proxyconfig.Forward,
		Header:  r.forwardHeader,
		Close:   s.disableKeepAlives,
		Host:    hostWithoutDefaultPort(req),
	}
	askedGzip := false
	if !s.disableCompression && req.Method != http.MethodHead && req.Header.Get("Accept-Encoding") == "" && req.Header.Get("Range") == "" {
		askedGzip = true
		if ropts.Header == nil {
			ropts.Header = acceptGzip
		} else {
			ropts.Header = ropts.Header.Clone()
			ropts.Header["Accept-Encoding"] = gzipOnly
		}
	}

	for attempt := 0; ; attempt++ {
		res, retry, err := t.attempt(ctx, req, r, ropts, trace, attempt > 0)
		if err == nil && res.resp.StatusCode == http.StatusProxyAuthRequired && t.auth != nil {
			if res, err = t.answerForward407(ctx, req, r, ropts, res); err != nil {
				closeReqBody(req)
				return nil, false, err
			}
		}
		if err == nil {
			resp, err := t.finishResponse(req, res, r, askedGzip)
			return resp, false, err
		}
		if !retry || attempt > 0 {
			if failover && attempt == 0 && canFailover(ctx, err) {
				return nil, true, err
			}
			closeReqBody(req)
			return nil, false, err
		}
		// A reused connection turned out dead: rewind the body and try once
		// more on a new connection (net/http's rules for replayable requests).
		again, gerr := withNewBody(ctx, req)
		if gerr != nil {
			return nil, false, err
		}
		req = again
	}
}

type attemptResult struct {
	resp  *http.Response
	entry *pool.Entry
	reuse bool
	h2    *h2Stream // set when the response came over HTTP/2
}

// attempt runs the request once on a connection from the pool (a fresh one
// when fresh is set). retry reports whether the failure happened on a reused
// connection in a way that allows one more try.
func (t *Transport) attempt(ctx context.Context, req *http.Request, r *route, ropts conn.RequestOptions, trace *httptrace.ClientTrace, fresh bool) (res attemptResult, retry bool, err error) {
	if trace != nil && trace.GetConn != nil {
		trace.GetConn(r.target.Addr())
	}
	dial := func(ctx context.Context) (*conn.Conn, error) { return t.dial(ctx, r) }
	var e *pool.Entry
	var reused bool
	if t.muxRoute(req, r) {
		var done bool
		if res, e, reused, done, err = t.attemptMux(ctx, req, r, trace, fresh); done {
			return res, false, err
		}
	} else if fresh {
		e, err = t.pool.Dial(ctx, r.key, dial)
	} else {
		e, reused, err = t.pool.Get(ctx, r.key, dial, !isReplayable(req))
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.As(err, new(*conn.ProxyError)) {
			return res, false, cerr
		}
		return res, false, err
	}
	c := e.Conn
	if trace != nil && trace.GotConn != nil {
		info := httptrace.GotConnInfo{Conn: c.NetConn(), Reused: reused, WasIdle: reused}
		if reused {
			info.IdleTime = time.Since(e.IdleSince())
		}
		trace.GotConn(info)
	}
	if err := c.Request(ctx, req, t.addProxyAuth(c, req, r, ropts)); err != nil {
		t.pool.Discard(e)
		return res, false, err
	}
	resp, err := c.GetResponse(ctx)
	if err != nil {
		retry = reused && !c.ResponseStarted() && canRetry(req, c.WroteBytes(), err)
		t.pool.Discard(e)
		return res, retry, err
	}
	return attemptResult{resp: resp, entry: e, reuse: reused}, false, nil
}

// dial makes and connects a new connection for r.
func (t *Transport) dial(ctx context.Context, r *route) (*conn.Conn, error) {
	c := conn.New(r.first, r.proxy, t.connOpts)
	t.setProxyAuth(c, r)
	c.OfferHTTP2(r.h2 == h2ALPN, t.h2.only)
	if r.h2 == h2NotThis {
		c.OfferHTTP1Only()
	}
	if r.mode == proxyconfig.Tunnel {
		c.SetTunnel(r.target.Host, r.target.Port, r.target.Scheme, r.connectHeader)
	} else if r.proxy != nil && isSOCKS(r.proxy) {
		c.SetTunnel(r.target.Host, r.target.Port, r.target.Scheme, nil)
	}
	s := t.s
	if err := c.Connect(ctx); err != nil {
		if s.logger != nil {
			s.logger.DebugContext(ctx, "ferry: connect failed", "first", r.first.Addr(), "mode", r.mode.String(), "err", err)
		}
		return nil, err
	}
	if s.logger != nil {
		s.logger.DebugContext(ctx, "ferry: connected", "first", r.first.Addr(), "target", r.target.Addr(), "mode", r.mode.String(),
			"verified", c.IsVerified(), "proxy_verified", c.IsProxyVerified())
	}
	// The hook judges the connection's own TLS, never the request that
	// opened it: a forwarded https:// request and an http:// one share the
	// connection to the proxy, so the verdict must not depend on which came
	// first. In forward mode ferry does no TLS with the target at all (the
	// proxy does, as the program asked with UseForwardingForHTTPS), so only
	// the TLS with the proxy counts, as urllib3 warns only when neither the
	// target nor the proxy was verified.
	if s.onUnverifiedConn != nil && unverifiedTLS(c) {
		if err := s.onUnverifiedConn(connInfo(r, c, false)); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// unverifiedTLS reports whether c did a TLS handshake, with the target or
// with the proxy, without verifying the peer.
func unverifiedTLS(c *conn.Conn) bool {
	return (c.TLS() != nil && !c.IsVerified()) || (c.ProxyTLS() != nil && !c.IsProxyVerified())
}

// canRetry applies net/http's rules: a request may be sent again when none
// of it reached the network, or when it is replayable (no body, or GetBody)
// and idempotent, and the failure looks like a connection the server had
// closed, not a timeout or a bad body.
func canRetry(req *http.Request, wrote int64, err error) bool {
	hasBody := req.Body != nil && req.Body != http.NoBody
	if hasBody && req.GetBody == nil {
		return false
	}
	var te *conn.TimeoutError
	var be *conn.BodyReadError
	if errors.As(err, &te) || errors.As(err, &be) || errors.Is(err, conn.ErrResponseHeaderTooLarge) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if wrote == 0 {
		return true
	}
	return isIdempotent(req)
}

// withNewBody returns req ready to be sent again: req itself when it has no
// body, or a copy with a new body from GetBody (the caller checked that
// there is one).
func withNewBody(ctx context.Context, req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	again := req.Clone(ctx)
	again.Body = body
	return again, nil
}

// isReplayable reports whether req may be sent again on a fresh connection
// if the reused one it went out on turns out dead.
func isReplayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	return isIdempotent(req)
}

func isIdempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, a := req.Header["Idempotency-Key"]
	_, b := req.Header["X-Idempotency-Key"]
	return a || b
}

// finishResponse wraps the body so the connection goes back to the pool,
// decompresses gzip when ferry asked for it, and attaches ConnInfo.
func (t *Transport) finishResponse(req *http.Request, res attemptResult, r *route, askedGzip bool) (*http.Response, error) {
	if res.h2 != nil {
		return t.finishH2(req, res, r)
	}
	resp, e := res.resp, res.entry
	c := e.Conn
	resp.TLS = c.TLS()
	if r.mode == proxyconfig.Forward {
		resp.TLS = nil
	}
	st := &respState{}
	st.ic.Context = req.Context()
	st.ic.info = connInfo(r, c, res.reuse)
	trace := httptrace.ContextClientTrace(req.Context())

	switch {
	case resp.StatusCode == http.StatusSwitchingProtocols:
		resp.Body = &switchedBody{br: c.Reader(), c: c, p: t.pool, e: e}
	case resp.Body == http.NoBody:
		if c.Release() && t.pool.Put(e) {
			if trace != nil && trace.PutIdleConn != nil {
				trace.PutIdleConn(nil)
			}
		} else {
			t.pool.Discard(e)
		}
	default:
		b := &st.body
		b.Init(t.pool, e, resp.Body)
		b.Length = resp.ContentLength
		b.Trace = trace
		resp.Body = b
		if askedGzip && strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
			resp.Body = &gzipReader{body: b}
			resp.Header.Del("Content-Encoding")
			resp.Header.Del("Content-Length")
			resp.ContentLength = -1
			resp.Uncompressed = true
		}
	}
	resp.Request = st.request(req)
	return resp, nil
}

// validateRequest refuses what must not be sent: net/http's Transport checks.
func validateRequest(req *http.Request) error {
	if req == nil {
		return fmt.Errorf("%w: nil Request", ErrInvalidRequest)
	}
	if req.URL == nil {
		return fmt.Errorf("%w: nil Request.URL", ErrInvalidRequest)
	}
	if req.Header == nil {
		return fmt.Errorf("%w: nil Request.Header", ErrInvalidRequest)
	}
	if s := req.URL.Scheme; s != "http" && s != "https" {
		return fmt.Errorf("%w: unsupported protocol scheme %q", ErrInvalidRequest, s)
	}
	if req.URL.Host == "" {
		return fmt.Errorf("%w: no Host in request URL", ErrInvalidRequest)
	}
	if err := checkPort(req.URL.Host); err != nil {
		return err
	}
	if req.Method != "" && !validMethod(req.Method) {
		return fmt.Errorf("%w: invalid method %q", ErrInvalidRequest, req.Method)
	}
	for k, vs := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("%w: invalid header field name %q", ErrInvalidRequest, k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("%w: invalid header field value for %q", ErrInvalidRequest, k)
			}
		}
	}
	if h := req.Host; h != "" && !httpguts.ValidHostHeader(h) {
		return fmt.Errorf("%w: invalid Host %q", ErrInvalidRequest, h)
	}
	return nil
}

// checkPort refuses a URL host whose port is not 1 to 65535 ("99999", "0",
// "abc"): net/http finds it only when dialling, a forwarding proxy answers
// it with a 400 or 502, and either way something was dialled for a request
// that could never be sent. An empty port ("host:") means the default, as
// in net/http.
func checkPort(host string) error {
	port := ""
	if strings.HasPrefix(host, "[") {
		end := strings.LastIndexByte(host, ']')
		if end < 0 {
			return fmt.Errorf("%w: no closing ']' in host %q", ErrInvalidRequest, host)
		}
		rest := host[end+1:]
		if rest != "" && rest[0] != ':' {
			return fmt.Errorf("%w: text after ']' in host %q", ErrInvalidRequest, host)
		}
		if rest != "" {
			port = rest[1:]
		}
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.Count(host, ":") == 1 {
		port = host[i+1:]
	}
	if port == "" {
		return nil
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.TrimLeft(port, "0123456789") != "" {
		return fmt.Errorf("%w: bad port %q in host %q", ErrInvalidRequest, port, host)
	}
	return nil
}

func validMethod(m string) bool {
	for i := 0; i < len(m); i++ {
		if !httpguts.IsTokenRune(rune(m[i])) {
			return false
		}
	}
	return true
}

// hostWithoutDefaultPort returns the Host header to send when the URL names
// the scheme's default port ("example.com:443" -> "example.com"), or "" to
// keep what the request would send.
func hostWithoutDefaultPort(req *http.Request) string {
	if req.Host != "" {
		return ""
	}
	p := req.URL.Port()
	if p == "" || p != proxyconfig.DefaultPort(req.URL.Scheme) {
		return ""
	}
	h := req.URL.Hostname()
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

func closeReqBody(req *http.Request) {
	if req != nil && req.Body != nil {
		req.Body.Close()
	}
}

// switchedBody is the body of a 101 Switching Protocols response: the
// connection itself, readable and writable, as in net/http.
type switchedBody struct {
	br io.Reader
	c  *conn.Conn
	p  *pool.Pool
	e  *pool.Entry
}

func (s *switchedBody) Read(b []byte) (int, error)  { return s.br.Read(b) }
func (s *switchedBody) Write(b []byte) (int, error) { return s.c.NetConn().Write(b) }
func (s *switchedBody) Close() error {
	s.p.Discard(s.e)
	return nil
}
