package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync/atomic"
	"time"
)

// max1xx is how many informational responses are read before a final one;
// more is an error (net/http uses the same limit).
const max1xx = 5

// earlyResponseGrace is how long a final response that arrived while the body
// writer had not yet reported waits for it, before the write is stopped: the
// writer may just be finishing a body the server read completely.
const earlyResponseGrace = 50 * time.Millisecond

// RequestOptions say how Request sends a request.
type RequestOptions struct {
	// Forward sends the request in absolute form (GET http://host/path), for a
	// forwarding proxy. Otherwise the origin form (GET /path) is used.
	Forward bool
	// Header is added to the request's own header on the wire (for example
	// proxy headers in forward mode, or Accept-Encoding). The caller's
	// request is not modified.
	Header http.Header
	// Host, when set, replaces the Host header that would be derived from the URL.
	Host string
	// Close asks for "Connection: close"; the connection is not reused.
	Close bool
	// ProxyAuthorization, when set, is sent as Proxy-Authorization (the
	// Transport's answer to a forwarding proxy's 407): it replaces one in
	// Header, and follows one in the request's own header.
	ProxyAuthorization string
}

// Request writes req on the connection. A request without a body is written
// before Request returns; a body is written by a goroutine of the Conn while
// GetResponse reads the response, so that a server answering early (413, 401)
// is heard. req.Body is always closed. Request does not modify req.
//
// A write that fails on the network is not returned here: as in urllib3,
// GetResponse still reads what the server answered, and reports the write
// error only when there is no response.
func (c *Conn) Request(ctx context.Context, req *http.Request, o RequestOptions) error {
	if !c.connected {
		closeBody(req)
		return ErrNotConnected
	}
	if c.inFlight {
		closeBody(req)
		return ErrBusy
	}
	c.inFlight = true
	c.requests++
	c.req = req
	c.ctx = ctx
	c.forward = o.Forward
	c.writeErr = nil
	c.netWriteErr.Store(nil)
	c.readAny.Store(0)
	c.wroteAny.Store(0)
	c.headerDue.Store(0)
	c.writer = nil

	c.wireReq = *req
	w := &c.wireReq
	if len(o.Header) > 0 || o.ProxyAuthorization != "" {
		w.Header = c.mergeHeader(req.Header, o.Header, o.ProxyAuthorization)
	}
	if o.Host != "" {
		w.Host = o.Host
	}
	if o.Close {
		w.Close = true
	}
	if req.Body == nil || req.Body == http.NoBody {
		w.Body = nil
		return c.writeNow()
	}

	bwr := &bodyWriter{c: c, body: req.Body, done: make(chan struct{})}
	if o := c.opts.ExpectContinueTimeout; o > 0 && expectsContinue(req) {
		bwr.cont = make(chan bool, 1)
	}
	w.Body = bwr
	c.writer = bwr
	go bwr.run()
	return nil
}

// writeNow writes a request without a body from the caller's goroutine.
func (c *Conn) writeNow() error {
	err := c.writeWire()
	if err == nil {
		err = c.bw.Flush()
	}
	if err == nil {
		c.startHeaderTimer()
		return nil
	}
	if nerr := c.netWriteErr.Load(); nerr != nil {
		// The network refused the bytes; GetResponse still looks for an answer.
		c.writeErr = nerr.err
		return nil
	}
	// The request itself was bad: nothing usable went out, but the buffer
	// holds part of it. The connection cannot carry another request.
	c.inFlight = false
	c.close(true)
	return err
}

func (c *Conn) writeWire() error {
	if c.forward {
		return c.wireReq.WriteProxy(c.bw)
	}
	return c.wireReq.Write(c.bw)
}

func (c *Conn) startHeaderTimer() {
	if t := c.opts.ResponseHeaderTimeout; t > 0 {
		due := time.Now().Add(t)
		c.headerDue.Store(due.UnixNano())
		c.nc.SetReadDeadline(due)
	}
}

// mergeHeader returns the caller's header plus extra, and Proxy-Authorization
// pa when set (instead of extra's), in a map owned by the Conn (reused, so a
// request costs no allocation for it).
func (c *Conn) mergeHeader(h, extra http.Header, pa string) http.Header {
	if c.wireHdr == nil {
		c.wireHdr = make(http.Header, len(h)+len(extra)+1)
	} else {
		clear(c.wireHdr)
	}
	for k, v := range h {
		c.wireHdr[k] = v
	}
	for k, v := range extra {
		if pa != "" && k == proxyAuthorization {
			continue
		}
		c.wireHdr[k] = appendValues(c.wireHdr[k], v)
	}
	if pa != "" {
		c.wirePA[0] = pa
		c.wireHdr[proxyAuthorization] = appendValues(c.wireHdr[proxyAuthorization], c.wirePA[:])
	}
	return c.wireHdr
}

const proxyAuthorization = "Proxy-Authorization"

// appendValues is old followed by v, without writing into old's array (the
// caller's); v itself when there is no old.
func appendValues(old, v []string) []string {
	if old == nil {
		return v
	}
	return append(old[:len(old):len(old)], v...)
}

func expectsContinue(r *http.Request) bool {
	for _, v := range r.Header["Expect"] {
		if strings.EqualFold(strings.TrimSpace(v), "100-continue") {
			return true
		}
	}
	return false
}

func closeBody(r *http.Request) {
	if r != nil && r.Body != nil {
		r.Body.Close()
	}
}

// bodyWriter writes a request with a body from its own goroutine. It is the
// wire request's Body, so it sees every read of the caller's body: it waits
// for 100 Continue before the first, refuses reads once stopped, and tells
// errors of the caller's body from errors of the network.
type bodyWriter struct {
	c        *Conn
	body     io.ReadCloser
	cont     chan bool // non-nil: Expect 100-continue; true sends the body
	waited   bool
	stopped  atomic.Bool
	didRead  atomic.Bool
	readErr  error // the caller's body failed (set by the writer goroutine)
	done     chan struct{}
	err      error // result of the write; read after done is closed
	skipBody bool  // the server answered without 100 Continue: body not sent
}

var errWriteStopped = errors.New("ferry: request body write stopped")

func (b *bodyWriter) run() {
	c := b.c
	err := c.writeWire()
	if err == nil && !b.skipBody {
		err = c.bw.Flush()
	}
	if err != nil && b.readErr != nil {
		err = &BodyReadError{Err: b.readErr}
	} else if err != nil {
		if nerr := c.netWriteErr.Load(); nerr != nil {
			err = nerr.err
		}
	}
	b.err = err
	if err == nil {
		c.startHeaderTimer()
	}
	close(b.done)
}

func (b *bodyWriter) Read(p []byte) (int, error) {
	if b.stopped.Load() {
		return 0, errWriteStopped
	}
	if b.cont != nil && !b.waited {
		b.waited = true
		if !b.waitContinue() {
			b.skipBody = true
			return 0, errWriteStopped
		}
	}
	b.didRead.Store(true)
	n, err := b.body.Read(p)
	if err != nil && err != io.EOF {
		b.readErr = err
	}
	return n, err
}

// waitContinue flushes the header and waits for the reader's verdict on
// 100-continue, or ExpectContinueTimeout, whichever comes first.
func (b *bodyWriter) waitContinue() bool {
	c := b.c
	if err := c.bw.Flush(); err != nil {
		return false
	}
	if trace := httptrace.ContextClientTrace(c.ctx); trace != nil && trace.Wait100Continue != nil {
		trace.Wait100Continue()
	}
	t := time.NewTimer(c.opts.ExpectContinueTimeout)
	defer t.Stop()
	select {
	case ok := <-b.cont:
		return ok
	case <-t.C:
		return true
	}
}

func (b *bodyWriter) Close() error { return b.body.Close() }

// decideContinue tells a writer waiting for 100 Continue whether to send.
func (b *bodyWriter) decideContinue(send bool) {
	if b.cont != nil {
		select {
		case b.cont <- send:
		default:
		}
	}
}

// stopWriter stops a running body write at once and waits for the writer
// goroutine, so the caller's body is never read after it returns.
func (c *Conn) stopWriter() {
	b := c.writer
	if b == nil {
		return
	}
	select {
	case <-b.done:
		return
	default:
	}
	b.stopped.Store(true)
	b.decideContinue(false)
	c.nc.SetWriteDeadline(aLongTimeAgo)
	// Unblock a Read of the caller's body that waits for its producer.
	b.body.Close()
	<-b.done
}

// GetResponse reads the response to the request written by Request. It
// returns the final response (informational ones are reported through
// httptrace and skipped, except 101). The response body reads from the
// connection; the caller hands the connection back with Release when the body
// is done, or Closes it.
//
// When the body write failed or was stopped because the server answered
// early, the response is still returned (err nil), with resp.Close set; the
// write error is available from WriteErr. When no response could be read
// after a failed write, the error is the write error, as a *WriteError.
func (c *Conn) GetResponse(ctx context.Context) (*http.Response, error) {
	if !c.inFlight {
		return nil, ErrNotConnected
	}
	if ctx.Done() != nil {
		c.canceled.Store(false)
		nc := c.nc
		stop := context.AfterFunc(ctx, func() {
			c.canceled.Store(true)
			nc.SetDeadline(aLongTimeAgo)
		})
		c.stopWatch = stop
	}
	trace := httptrace.ContextClientTrace(ctx)
	c.readLimit = c.opts.maxHeaderBytes()
	c.lastReadErr = nil
	var resp *http.Response
	for n1xx := 0; ; {
		if trace != nil && trace.GotFirstResponseByte != nil && n1xx == 0 {
			if _, err := c.br.Peek(1); err == nil {
				trace.GotFirstResponseByte()
			}
		}
		r, err := http.ReadResponse(c.br, c.req)
		if err != nil {
			return nil, c.readFailed(ctx, err)
		}
		code := r.StatusCode
		if code >= 200 || code == http.StatusSwitchingProtocols {
			resp = r
			break
		}
		if n1xx++; n1xx > max1xx {
			return nil, c.readFailed(ctx, ErrTooMany1xx)
		}
		if code == http.StatusContinue {
			if trace != nil && trace.Got100Continue != nil {
				trace.Got100Continue()
			}
			if c.writer != nil {
				c.writer.decideContinue(true)
			}
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(r.Header)); err != nil {
				return nil, c.readFailed(ctx, err)
			}
		}
		c.readLimit = c.opts.maxHeaderBytes()
	}
	c.readLimit = -1
	c.headerDue.Store(0)

	if b := c.writer; b != nil {
		c.finishWriter(b)
	}
	if c.writeErr != nil || resp.Close || c.wireReq.Close || resp.StatusCode == http.StatusSwitchingProtocols {
		c.reusable = false
		resp.Close = true
	}
	return resp, nil
}

// finishWriter settles the body writer once a final response is in: a write
// still running means the server answered early, so it is stopped.
func (c *Conn) finishWriter(b *bodyWriter) {
	select {
	case <-b.done:
	default:
		b.decideContinue(false)
		t := time.NewTimer(earlyResponseGrace)
		select {
		case <-b.done:
		case <-t.C:
			c.stopWriter()
		}
		t.Stop()
	}
	switch {
	case b.stopped.Load() || b.skipBody:
		c.writeErr = ErrEarlyResponse
		if b.err != nil && !errors.Is(b.err, errWriteStopped) && !isTimeout(b.err) {
			c.writeErr = fmt.Errorf("%w: %w", ErrEarlyResponse, b.err)
		}
	case b.err != nil:
		c.writeErr = b.err
	}
	c.writer = nil
}

// readFailed turns a failure to read the response into the error to return,
// after making sure the body writer is finished; the connection is closed.
func (c *Conn) readFailed(ctx context.Context, rerr error) error {
	if b := c.writer; b != nil {
		// The read failed while the body may still be going out: give the
		// writer a moment to report its own error (the more telling one).
		select {
		case <-b.done:
		case <-time.After(earlyResponseGrace):
			c.stopWriter()
		}
		if b.err != nil && !errors.Is(b.err, errWriteStopped) && c.writeErr == nil {
			c.writeErr = b.err
		}
		c.writer = nil
	}
	timedOut := isTimeout(rerr) || (c.lastReadErr != nil && isTimeout(c.lastReadErr))
	if timedOut && !isTimeout(rerr) {
		rerr = c.lastReadErr
	}
	tooLarge := c.readLimit == 0 || errors.Is(rerr, ErrResponseHeaderTooLarge)
	c.inFlight = false
	c.stopWatching()
	writeErr := c.writeErr
	closedClean := rerr == io.ErrUnexpectedEOF && c.readAny.Load() == 0 && c.lastReadErr == io.EOF
	c.close(true)

	if err := ctx.Err(); err != nil {
		return err
	}
	var bre *BodyReadError
	if errors.As(writeErr, &bre) {
		return bre
	}
	if tooLarge {
		return fmt.Errorf("%w (limit %d bytes)", ErrResponseHeaderTooLarge, c.opts.maxHeaderBytes())
	}
	if timedOut {
		t, setting := c.opts.ReadTimeout, "ReadTimeout"
		if t == 0 || (c.opts.ResponseHeaderTimeout > 0 && c.opts.ResponseHeaderTimeout < t) {
			t, setting = c.opts.ResponseHeaderTimeout, "ResponseHeaderTimeout"
		}
		return &TimeoutError{Op: "read", Stage: "response header", Setting: setting, Limit: t, Err: rerr}
	}
	if writeErr != nil {
		return &WriteError{Err: writeErr}
	}
	if closedClean {
		// The server closed without sending a byte: http.ReadResponse calls
		// that unexpected, net/http says io.EOF, and retry code tests
		// errors.Is(err, io.EOF).
		rerr = io.EOF
	}
	return fmt.Errorf("ferry: reading response: %w", rerr)
}

// ResponseStarted reports whether any byte of a response arrived for the
// current request: a request whose response started is never retried.
func (c *Conn) ResponseStarted() bool { return c.readAny.Load() > 0 }

// WroteBytes reports how many bytes of the current request reached the network.
func (c *Conn) WroteBytes() int64 { return c.wroteAny.Load() }

// stopWatching ends the context watch of the current request. It reports
// false when the context ended first and its deadline was set on the conn.
func (c *Conn) stopWatching() bool {
	if c.stopWatch == nil {
		return true
	}
	ok := c.stopWatch()
	c.stopWatch = nil
	return ok
}

// Release ends the current request once its response body was read to the
// end. It reports whether the Conn can carry another request; when it cannot
// (the server or the request said close, the body write was cut short,
// unread bytes follow the response, the context ended), the Conn is closed.
func (c *Conn) Release() bool {
	watched := c.stopWatching()
	ok := watched && c.connected && c.reusable && c.writer == nil && c.br.Buffered() == 0
	c.inFlight = false
	if !ok {
		c.close(true)
	} else {
		c.dropRequest()
	}
	return ok
}

// Discard ends the current request and closes the connection at once.
func (c *Conn) Discard() {
	c.stopWatching()
	c.inFlight = false
	c.close(true)
}

// KeepAlive reports whether, so far, the connection may carry another
// request once the current response is read to the end.
func (c *Conn) KeepAlive() bool { return c.connected && c.reusable && c.writer == nil }

// SetExtraReadDeadline sets a deadline that applies to reads besides
// ReadTimeout (used to bound draining a body); the zero time removes it.
func (c *Conn) SetExtraReadDeadline(t time.Time) {
	if t.IsZero() {
		c.headerDue.Store(0)
		return
	}
	c.headerDue.Store(t.UnixNano())
}

// MapBodyError turns an error from reading a response body into the one to
// give the caller: the context's error when it ended, a *TimeoutError when
// ReadTimeout fired, otherwise err.
func (c *Conn) MapBodyError(err error) error {
	if c.ctx != nil {
		if cerr := c.ctx.Err(); cerr != nil {
			return cerr
		}
	}
	if isTimeout(err) {
		return &TimeoutError{Op: "read", Stage: "response body", Setting: "ReadTimeout", Limit: c.opts.ReadTimeout, Err: err}
	}
	return err
}

// Reader returns the connection's buffered reader, for a response that takes
// the connection over (101 Switching Protocols).
func (c *Conn) Reader() io.Reader { return c.br }
