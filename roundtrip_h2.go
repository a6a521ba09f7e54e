package ferry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/ferryhttp/ferry/conn"
	"github.com/ferryhttp/ferry/pool"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// ErrHTTP2 is wrapped by the errors of requests that failed on an HTTP/2
// connection for a reason of the protocol (a stream reset, a malformed frame,
// a GOAWAY that took the request with it, a header block over the limit).
// errors.Is finds it; the standard library's error is wrapped too.
var ErrHTTP2 = errors.New("ferry: HTTP/2")

// maxH2Retries bounds how often a request is sent again on another HTTP/2
// connection. Each retry is one the server did not process, or an
// idempotent request on a connection that died; against a server that ends
// connections after a few requests (nginx's keepalive_requests), many
// callers at once can meet several closing connections in a row.
const maxH2Retries = 16

// How a route's connections may speak HTTP/2 (route.h2).
const (
	h2Off     uint8 = iota
	h2ALPN          // offer h2 in ALPN to the target
	h2Prior         // h2c with prior knowledge
	h2NotThis       // HTTP/2 is on but this request needs HTTP/1.1: offer only that
)

// h2Switches is what the Transport's HTTP/2 fields say, read once.
type h2Switches struct {
	tls   bool // offer h2 to https targets
	only  bool // offer h2 only (Protocols without HTTP1)
	prior bool // h2c with prior knowledge to http targets (direct, SOCKS)
}

// http2Switches applies net/http's rules to the Transport's fields, except
// that a Transport that says nothing (Protocols, TLSNextProto nil,
// ForceAttemptHTTP2 false) stays HTTP/1.1: the zero Transport keeps the
// behaviour ferry always had. NewFromHTTPTransport writes down what
// net/http's default would have been.
func (t *Transport) http2Switches() h2Switches {
	if p := t.Protocols; p != nil {
		return h2Switches{
			tls:   p.HTTP2(),
			only:  p.HTTP2() && !p.HTTP1(),
			prior: p.UnencryptedHTTP2() && !p.HTTP1(),
		}
	}
	if t.TLSNextProto != nil {
		// net/http: a non-nil map turns HTTP/2 off unless it has "h2".
		return h2Switches{tls: t.TLSNextProto["h2"] != nil}
	}
	return h2Switches{tls: t.ForceAttemptHTTP2}
}

func (t *Transport) initHTTP2() {
	t.h2 = t.http2Switches()
	if !t.h2.tls && !t.h2.prior {
		return
	}
	t.h2eng = conn.NewH2Engine(conn.H2Settings{
		HTTP2:                  t.HTTP2,
		DisableCompression:     t.DisableCompression,
		DisableKeepAlives:      t.DisableKeepAlives,
		MaxResponseHeaderBytes: t.MaxResponseHeaderBytes,
		ResponseHeaderTimeout:  t.ResponseHeaderTimeout,
		ExpectContinueTimeout:  t.ExpectContinueTimeout,
	})
}

// muxRoute decides whether req may go over HTTP/2 and records how in r.h2:
// https targets direct, through a CONNECT tunnel or SOCKS; http targets with
// prior knowledge, direct or over SOCKS only. Forward mode, and requests
// that must stay HTTP/1.1 (Upgrade), never.
func (t *Transport) muxRoute(req *http.Request, r *route) bool {
	r.h2 = h2Off
	if t.h2eng == nil || r.mode == proxyconfig.Forward {
		return false
	}
	if isUpgrade(req) {
		r.h2 = h2NotThis
		return false
	}
	switch {
	case r.target.Scheme == "https" && t.h2.tls:
		r.h2 = h2ALPN
	case r.target.Scheme == "http" && t.h2.prior && (r.proxy == nil || isSOCKS(r.proxy)):
		r.h2 = h2Prior
	default:
		return false
	}
	return true
}

func isUpgrade(req *http.Request) bool {
	return len(req.Header["Upgrade"]) > 0 || httpguts.HeaderValuesContainsToken(req.Header["Connection"], "upgrade")
}

// dialMux makes a connection for a route that may speak HTTP/2; cc is set
// when it does.
func (t *Transport) dialMux(ctx context.Context, r *route) (*conn.Conn, *http.ClientConn, error) {
	c, err := t.dial(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	prior := r.h2 == h2Prior
	if !prior && c.NegotiatedProtocol() != conn.ProtoH2 {
		return c, nil, nil
	}
	cc, err := t.h2eng.ClientConn(c, prior)
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("%w: starting the connection: %w", ErrHTTP2, err)
	}
	return c, cc, nil
}

// attemptMux gets a connection for a route that may speak HTTP/2 and, when
// it does, runs the request on it (done true). A request whose headers never
// reached the connection (it was closing, refused the stream, went away) is
// sent again on another. An HTTP/1.1 entry is returned for attempt to use.
func (t *Transport) attemptMux(ctx context.Context, req *http.Request, r *route, trace *httptrace.ClientTrace, fresh bool) (res attemptResult, e *pool.Entry, reused, done bool, err error) {
	mdial := func(ctx context.Context) (*conn.Conn, *http.ClientConn, error) { return t.dialMux(ctx, r) }
	useIdle := !fresh
	for try := 0; ; try++ {
		e, reused, err = t.pool.GetMux(ctx, r.key, mdial, useIdle, !isReplayable(req))
		if err != nil || e.H2 == nil {
			return res, e, reused, false, err
		}
		var next *http.Request
		res, next, err = t.roundTripH2(ctx, req, e, reused, trace)
		if next == nil || try >= maxH2Retries {
			if next != nil {
				closeReqBody(next)
			}
			return res, nil, false, true, err
		}
		req, useIdle = next, true
	}
}

// roundTripH2 sends req as one stream of e's connection (a stream lent by
// GetMux). A non-nil next is the request to send on another connection: the
// engine refused it before writing its headers (the connection had become
// unusable), or the server said it did not process it (a graceful GOAWAY
// that left it out, REFUSED_STREAM), and its body can be sent again.
func (t *Transport) roundTripH2(ctx context.Context, req *http.Request, e *pool.Entry, reused bool, trace *httptrace.ClientTrace) (res attemptResult, next *http.Request, err error) {
	if trace != nil && trace.GotConn != nil {
		trace.GotConn(httptrace.GotConnInfo{Conn: e.Conn.NetConn(), Reused: reused, WasIdle: reused && e.H2.InFlight() <= 1})
	}
	s := &h2Stream{t: t, caller: ctx, p: t.pool, e: e}
	resp, err := e.H2.RoundTrip(s.start(ctx, req))
	if err != nil {
		s.release()
		if ctx.Err() == nil && (unsent(err) || reused && lostConn(req, e, err)) {
			if s.body.untouched() {
				return res, req, s.mapErr(err, false)
			}
			if req.GetBody != nil {
				s.body.closeNow()
				if again, gerr := withNewBody(ctx, req); gerr == nil {
					return res, again, s.mapErr(err, false)
				}
			}
		}
		s.body.closeNow()
		return res, nil, s.mapErr(err, false)
	}
	s.rt.gotHeaders()
	return attemptResult{resp: resp, entry: e, reuse: reused, h2: s}, nil, nil
}

// lostConn reports whether a request failed because its connection died
// (the peer closed it, a write failed) before any response, and may go
// again by net/http's rules for a reused connection found dead (the caller
// checks that it was reused): it is idempotent and its body can be sent
// again. A new connection that dies is not retried: the server may be
// what fails. A server that closes right
// after a GOAWAY (nginx's keepalive_requests) behind a proxy can lose the
// GOAWAY frame with the connection.
func lostConn(req *http.Request, e *pool.Entry, err error) bool {
	if e.H2.Err() == nil || !isReplayable(req) || isTimeout(err) {
		return false
	}
	var se h2StreamError
	return !errors.As(err, &se)
}

// h2StreamError receives the standard library's HTTP/2 stream error through
// errors.As (its As method fills any struct with the same fields).
type h2StreamError struct {
	StreamID uint32
	Code     uint32
	Cause    error
}

func (e h2StreamError) Error() string {
	return fmt.Sprintf("stream %d reset, code %#x", e.StreamID, e.Code)
}

// errRefusedStream is HTTP/2's REFUSED_STREAM: the server did not process it.
const errRefusedStream = 0x7

// unsent reports whether a request's failure leaves it safe to send again
// whatever its method: the engine refused it before writing its headers
// (the connection turned unusable or never came up), or the server said it
// did not process it (RFC 9113, 8.7: REFUSED_STREAM, or a graceful GOAWAY
// whose last stream came before it). These are the errors net/http itself
// retries; the engine names all but REFUSED_STREAM only by their message.
// TestHTTP2GoAway pins the GOAWAY one.
func unsent(err error) bool {
	var se h2StreamError
	if errors.As(err, &se) && se.Code == errRefusedStream {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "graceful shutdown GOAWAY") ||
		strings.Contains(msg, "http2: client conn not usable") ||
		strings.Contains(msg, "http2: client conn could not be established")
}

// finishH2 attaches ConnInfo and the body wrapper to an HTTP/2 response.
// The engine already decompressed what it asked to be gzipped.
func (t *Transport) finishH2(req *http.Request, res attemptResult, r *route) (*http.Response, error) {
	resp, s, c := res.resp, res.h2, res.entry.Conn
	resp.TLS = c.TLS()
	s.ic.Context = req.Context()
	s.ic.info = connInfo(r, c, res.reuse)
	s.ic.info.Proto = "HTTP/2.0"
	s.ic.info.WriteErr = s.body.writeErr()
	if resp.Body == http.NoBody {
		// Nothing to read (HEAD, 204, 304): the stream is over.
		s.body.closeNow()
		s.release()
	} else {
		s.resp.s, s.resp.rc = s, resp.Body
		resp.Body = &s.resp
	}
	resp.Request = s.ic.request(req, &s.req)
	return resp, nil
}

// h2Stream is one request on an HTTP/2 connection: the per-stream read
// timer (ReadTimeout), the request and response body wrappers, the
// response's ConnInfo, and the copies of the request given to the engine
// and returned in the response; one allocation for all of them.
type h2Stream struct {
	t      *Transport
	p      *pool.Pool
	e      *pool.Entry
	caller context.Context // the request's own context
	rt     h2Timer         // with ReadTimeout only (rt.timer set)
	body   h2ReqBody
	resp   h2Body
	ic     infoCtx
	wire   http.Request // what the engine sends, when it is not the caller's request
	req    http.Request // the response's Request
	done   atomic.Bool
}

// h2Timer is a stream's ReadTimeout: it bounds each wait for response
// bytes. When a wait runs over it closes the channel the engine watches as
// the request's Cancel, which ends this stream only (never the
// connection), without deriving a context per request.
//
// The timer is made once per stream and is not reset around every wait: a
// wait only records when it began (waitSince), and the timer, when it goes
// off, either fires or sleeps again for what is left of the wait in
// progress. Resetting a timer can wake the runtime's network poller (a
// system call); a body read costs two atomic stores instead.
type h2Timer struct {
	limit     time.Duration
	timer     *time.Timer                // set while ReadTimeout is on; read by the caller's goroutines only
	shared    atomic.Pointer[time.Timer] // the same, for wake (on the timer's goroutine)
	start     time.Time                  // the origin of waitSince, on the monotonic clock
	waitSince atomic.Int64               // when the wait in progress began, ns after start, plus 1; 0 while not waiting
	over      atomic.Bool                // the stream ended: the timer stops for good
	cancel    chan struct{}              // the engine's Request.Cancel
	closedBy  atomic.Uint32              // who closed cancel: byTimer or byCaller
	ended     chan struct{}              // closed when the stream ends, with a caller's Request.Cancel only
	header    atomic.Bool                // the wait was for the response header
	mu        sync.Mutex                 // orders the header wait's timer with the header's arrival
	headers   bool                       // the response header arrived
}

// start returns the request to give the engine: req itself when it can, or
// s.wire, a shallow copy of req with the body wrapper and, with
// ReadTimeout, the timer's Cancel channel. The copy lives in the stream's
// state and costs no allocation of its own.
func (s *h2Stream) start(ctx context.Context, req *http.Request) *http.Request {
	hasBody := req.Body != nil && req.Body != http.NoBody
	limit := s.t.connOpts.ReadTimeout
	if !hasBody && limit <= 0 {
		return req
	}
	s.wire = *req
	w := &s.wire
	if hasBody {
		s.body.init(req.Body)
		w.Body = &s.body
	}
	if limit <= 0 {
		return w
	}
	rt := &s.rt
	rt.limit = limit
	rt.cancel = make(chan struct{})
	//lint:ignore SA1019 a caller that still sets the deprecated Request.Cancel keeps it working, as net/http does.
	if callerCancel := req.Cancel; callerCancel != nil {
		// The caller's own (deprecated) Cancel channel still cancels.
		rt.ended = make(chan struct{})
		go rt.follow(callerCancel)
	}
	//lint:ignore SA1019 Request.Cancel is the engine's only per-stream abort that needs no context of its own; deriving one would cost several allocations per request.
	w.Cancel = rt.cancel
	rt.start = time.Now()
	rt.timer = time.AfterFunc(limit, rt.wake)
	rt.shared.Store(rt.timer)
	if !hasBody {
		// The header goes out at once: the wait for the response starts now.
		rt.header.Store(true)
		rt.arm()
		return w
	}
	// With a body the wait starts when the engine has written the request;
	// the upload itself is not bounded by ReadTimeout.
	trace := &httptrace.ClientTrace{WroteRequest: rt.onWroteRequest}
	*w = *w.WithContext(httptrace.WithClientTrace(ctx, trace))
	return w
}

// follow passes a close of the caller's Request.Cancel on to the engine's,
// until the stream ends or the timer fired.
func (rt *h2Timer) follow(callerCancel <-chan struct{}) {
	select {
	case <-callerCancel:
		if rt.closedBy.CompareAndSwap(0, byCaller) {
			close(rt.cancel)
		}
	case <-rt.cancel:
	case <-rt.ended:
	}
}

// onWroteRequest starts the wait for the response header, which ReadTimeout
// bounds as every wait for bytes of the response.
func (rt *h2Timer) onWroteRequest(httptrace.WroteRequestInfo) {
	rt.mu.Lock()
	if !rt.headers {
		rt.header.Store(true)
		rt.arm()
	}
	rt.mu.Unlock()
}

// gotHeaders ends the header wait: from now on only the caller's body reads
// arm the timer.
func (rt *h2Timer) gotHeaders() {
	if rt.timer == nil {
		return
	}
	rt.mu.Lock()
	rt.headers = true
	rt.stop()
	rt.header.Store(false)
	rt.mu.Unlock()
}

// arm records that a wait for response bytes begins now.
func (rt *h2Timer) arm() {
	if rt.timer != nil {
		rt.waitSince.Store(int64(time.Since(rt.start)) + 1)
	}
}

// stop records that the wait in progress ended.
func (rt *h2Timer) stop() {
	if rt.timer != nil {
		rt.waitSince.Store(0)
	}
}

// wake runs when the timer goes off: it fires if the wait in progress has
// lasted limit, and otherwise sleeps for what is left of it (or a whole
// limit while no wait is in progress).
func (rt *h2Timer) wake() {
	if rt.over.Load() {
		return
	}
	next := rt.limit
	if since := rt.waitSince.Load(); since != 0 {
		waited := time.Since(rt.start) - time.Duration(since-1)
		if waited >= rt.limit {
			rt.timedOut()
			return
		}
		next = rt.limit - waited
	}
	if t := rt.shared.Load(); t != nil {
		t.Reset(next)
	} else {
		// Gone off before start stored it (a limit shorter than the
		// scheduling delay): a new timer for the rest.
		rt.shared.CompareAndSwap(nil, time.AfterFunc(next, rt.wake))
	}
}

// end stops the timer when the stream is over.
func (rt *h2Timer) end() {
	if rt.timer != nil {
		rt.over.Store(true)
		rt.timer.Stop()
	}
}

// Who closed a stream's cancel channel (h2Timer.closedBy).
const (
	byTimer uint32 = 1 + iota
	byCaller
)

func (rt *h2Timer) timedOut() {
	if rt.closedBy.CompareAndSwap(0, byTimer) {
		close(rt.cancel)
	}
}

// timeoutErr is the error for a stream the timer ended, or nil.
func (rt *h2Timer) timeoutErr() error {
	if rt.closedBy.Load() != byTimer {
		return nil
	}
	stage := "response body"
	if rt.header.Load() {
		stage = "response header"
	}
	return &conn.TimeoutError{Op: "read", Stage: stage, Setting: "ReadTimeout", Limit: rt.limit, Err: errStreamStalled}
}

var errStreamStalled = errors.New("no bytes of the HTTP/2 stream arrived in time")

// release ends the stream once: its timer and context, and its place on
// the connection.
func (s *h2Stream) release() {
	if !s.done.CompareAndSwap(false, true) {
		return
	}
	s.rt.end()
	if s.rt.ended != nil {
		close(s.rt.ended)
	}
	s.p.MuxDone(s.e)
}

// mapErr turns an engine error into the one to give the caller: the read
// timer's TimeoutError, the caller's context error, a TimeoutError for
// ResponseHeaderTimeout, or the engine's error under ErrHTTP2.
func (s *h2Stream) mapErr(err error, body bool) error {
	if cerr := s.caller.Err(); cerr != nil {
		return cerr
	}
	if te := s.rt.timeoutErr(); te != nil {
		return te
	}
	if !body && s.t.connOpts.ResponseHeaderTimeout > 0 && isTimeout(err) {
		return &conn.TimeoutError{Op: "read", Stage: "response header", Setting: "ResponseHeaderTimeout", Limit: s.t.connOpts.ResponseHeaderTimeout, Err: err}
	}
	var be *conn.BodyReadError
	if errors.As(err, &be) || errors.Is(err, ErrHTTP2) {
		return err
	}
	if s.body.readErr != nil && errors.Is(err, s.body.readErr) {
		return &conn.BodyReadError{Err: err}
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %w", ErrHTTP2, err)
}

// h2Body is an HTTP/2 response body: each Read is one wait that ReadTimeout
// bounds; errors are mapped as mapErr says.
type h2Body struct {
	s  *h2Stream
	rc io.ReadCloser
}

func (b *h2Body) Read(p []byte) (int, error) {
	s := b.s
	s.rt.arm()
	n, err := b.rc.Read(p)
	s.rt.stop()
	if err != nil {
		if err != io.EOF {
			err = s.mapErr(err, true)
		}
		s.body.closeNow()
		s.release()
	}
	return n, err
}

func (b *h2Body) Close() error {
	err := b.rc.Close()
	b.s.body.closeNow()
	b.s.release()
	return err
}

// h2ReqBody is the request body the engine reads. It keeps a body the
// engine closed without reading a byte (the request may go on another
// connection), and tells whether the body was cut short.
type h2ReqBody struct {
	rc       io.ReadCloser
	read     atomic.Bool // the engine read from it
	eof      atomic.Bool
	engClose atomic.Bool // the engine closed it before EOF
	readErr  error       // the caller's body failed (engine's goroutine)
	settled  chan struct{}
	once     sync.Once
	closed   sync.Once
}

func (b *h2ReqBody) init(rc io.ReadCloser) {
	b.rc = rc
	b.settled = make(chan struct{})
}

func (b *h2ReqBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof.Store(true)
		b.settle()
	} else if err != nil {
		b.readErr = err
	}
	return n, err
}

// Close is the engine's: the body is done with, read whole or not.
func (b *h2ReqBody) Close() error {
	if !b.eof.Load() {
		b.engClose.Store(true)
	}
	b.settle()
	if b.read.Load() {
		// A Read may be blocked on the caller's producer: only closing the
		// body ends it.
		b.closeNow()
	}
	return nil
}

func (b *h2ReqBody) settle() { b.once.Do(func() { close(b.settled) }) }

// untouched reports whether the engine never read the body (or there is none).
func (b *h2ReqBody) untouched() bool { return b.rc == nil || !b.read.Load() }

// closeNow closes the caller's body, once.
func (b *h2ReqBody) closeNow() {
	if b.rc != nil {
		b.closed.Do(func() { b.rc.Close() })
	}
}

// writeErr reports, once the response is in, whether the body stopped short:
// the server answered (413, say) and reset the stream, so the engine stopped
// sending. A body still being sent gets a short grace to settle, as on
// HTTP/1.1; one that keeps going is not cut.
func (b *h2ReqBody) writeErr() error {
	if b.rc == nil || b.eof.Load() {
		return nil
	}
	t := time.NewTimer(earlyResponseGrace)
	defer t.Stop()
	select {
	case <-b.settled:
	case <-t.C:
		return nil
	}
	if b.engClose.Load() && !b.eof.Load() {
		return conn.ErrEarlyResponse
	}
	return nil
}

// earlyResponseGrace is how long a response that arrived during the upload
// waits for the engine to settle the body.
const earlyResponseGrace = 50 * time.Millisecond
