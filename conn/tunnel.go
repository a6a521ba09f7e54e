package conn

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/ferryhttp/ferry/proxyconfig"
)

// maxConnectErrorBody is how much of a refused CONNECT's body a ProxyError keeps.
const maxConnectErrorBody = 64 << 10

// connectTunnel sends CONNECT for c.tunnel over c.nc and reads the reply.
// Every failure here is the proxy's. Bytes the proxy sent after its reply
// are kept in front of c.nc, so TLS to the target does not lose them.
func (c *Conn) connectTunnel(ctx context.Context) error {
	// The authority goes on the wire twice (request target and Host):
	// refuse control characters and malformed hosts before sending anything.
	authority, err := proxyconfig.Authority(c.tunnel.Host, c.tunnel.Port)
	if err != nil {
		return err
	}
	req := &http.Request{
		Method:     http.MethodConnect,
		URL:        &url.URL{Opaque: authority},
		Host:       authority,
		Header:     c.tunnelHeader,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
	}
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	c.authorizeConnect(req)
	// Not the caller's context: Request.Write would fire its httptrace
	// WroteHeaders/WroteRequest for the CONNECT, which net/http does not do.
	// Cancellation comes from the AfterFunc below.
	_ = ctx

	// Bound the whole exchange by ctx: a proxy that never answers, or streams
	// an endless reply, must not hang Connect.
	// The callback gets its own copy of the conn: stop does not wait for a
	// callback already running, and Connect's cleanup clears c.nc.
	nc := c.nc
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
	defer stop()

	bw := bufio.NewWriterSize(nc, 1024)
	if err := req.Write(bw); err != nil {
		return c.tunnelErr(ctx, fmt.Errorf("writing CONNECT: %w", err), nil)
	}
	if err := bw.Flush(); err != nil {
		return c.tunnelErr(ctx, fmt.Errorf("writing CONNECT: %w", err), nil)
	}

	lr := &io.LimitedReader{R: nc, N: c.opts.maxHeaderBytes()}
	br := bufio.NewReaderSize(lr, 4096)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		if lr.N <= 0 {
			err = fmt.Errorf("reading CONNECT reply: %w", ErrResponseHeaderTooLarge)
		} else {
			err = fmt.Errorf("reading CONNECT reply: %w", err)
		}
		return c.tunnelErr(ctx, err, nil)
	}
	refused := resp.StatusCode < 200 || resp.StatusCode > 299
	var ref *refusal
	if refused {
		lr.N = maxConnectErrorBody + 1
		var body []byte
		complete := resp.ContentLength == 0
		if !complete {
			// One byte past the limit tells a body that ends there from a
			// longer one.
			var rerr error
			body, rerr = io.ReadAll(io.LimitReader(resp.Body, maxConnectErrorBody+1))
			complete = rerr == nil && len(body) <= maxConnectErrorBody
			body = body[:min(len(body), maxConnectErrorBody)]
		}
		ref = &refusal{resp.StatusCode, resp.Header, body, complete}
		// The hook reads the same bytes the ProxyError keeps.
		resp.Body = io.NopCloser(bytesReader(body))
	}
	// Every reply goes to the hook before its status is checked, 407 and
	// 403 included, as net/http does.
	if c.opts.OnProxyConnectResponse != nil {
		if err := c.opts.OnProxyConnectResponse(ctx, c.proxy, req, resp); err != nil {
			return c.tunnelErr(ctx, err, ref)
		}
	}
	if refused && resp.StatusCode == http.StatusProxyAuthRequired && c.auth.pa != nil {
		return c.answerConnect407(ctx, req, resp, br, ref)
	}
	if refused {
		return c.tunnelErr(ctx, fmt.Errorf("%w: %s", ErrConnectRefused, resp.Status), ref)
	}
	if !stop() {
		// ctx ended during the exchange and its deadline is set on nc.
		return c.tunnelErr(ctx, ctx.Err(), nil)
	}
	c.endProxyAuth()
	if n := br.Buffered(); n > 0 {
		extra, _ := br.Peek(n)
		c.nc = &prefixConn{Conn: nc, r: io.MultiReader(bytesReader(extra), nc)}
	}
	return nil
}

type refusal struct {
	status   int
	header   http.Header
	body     []byte
	complete bool // body holds all of it: the connection can carry another CONNECT
}

func (c *Conn) tunnelErr(ctx context.Context, err error, r *refusal) error {
	if ctxErr := ctx.Err(); ctxErr != nil && isTimeout(err) {
		err = fmt.Errorf("%w (%v)", ctxErr, err)
	}
	pe := &ProxyError{Proxy: redactedProxy(c.proxy), HasConnectedToProxy: true, Err: err}
	if r != nil {
		pe.StatusCode, pe.Header, pe.Body = r.status, r.header, r.body
	}
	return pe
}

func bytesReader(b []byte) io.Reader {
	cp := make([]byte, len(b))
	copy(cp, b)
	return &sliceReader{b: cp}
}

type sliceReader struct{ b []byte }

func (s *sliceReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

var _ net.Conn = (*prefixConn)(nil)
