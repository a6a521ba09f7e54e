package ferry

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"

	"github.com/ferryhttp/ferry/conn"
	"github.com/ferryhttp/ferry/pool"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// ConnInfo describes the connection a response came on.
type ConnInfo struct {
	// Mode is how the request went: Direct, Forward or Tunnel.
	Mode proxyconfig.Mode
	// Proxy is the proxy's URL with its password redacted, or nil.
	Proxy *url.URL
	// IsVerified reports whether TLS with the target was verified (urllib3's
	// is_verified). False without TLS with the target, which includes an
	// https request forwarded by a proxy (UseForwardingForHTTPS).
	IsVerified bool
	// IsProxyVerified reports whether TLS with the proxy was verified
	// (urllib3's proxy_is_verified). False without TLS with the proxy.
	IsProxyVerified bool
	// Reused reports whether the connection had carried earlier requests.
	Reused bool
	// ProxyTLS is the state of TLS with the proxy, or nil. The target's is
	// resp.TLS, as in net/http.
	ProxyTLS *tls.ConnectionState
	// Proto is the protocol the response came over: "HTTP/1.1" or "HTTP/2.0"
	// (as resp.Proto; also "HTTP/1.1" for an HTTP/1.0 reply on an HTTP/1.1
	// connection).
	Proto string
	// ALPN is the protocol the target chose in the TLS handshake ("h2",
	// "http/1.1"), or "" without TLS with the target or without ALPN. The
	// handshake with an https proxy never offers more than "http/1.1".
	ALPN string
	// WriteErr is the error that stopped the request body from being sent
	// when the server answered anyway (an early 413, say): conn.ErrEarlyResponse,
	// or the EPIPE/ECONNRESET the write met. Nil when the request went out whole.
	WriteErr error
	// Skipped are the Transport.ProxyList entries tried, in order, before the
	// one that served the request (which Proxy and Mode name), each with the
	// error that made ferry move on. Nil when the first entry served it or
	// ProxyList is not used.
	Skipped []SkippedRoute
}

// SkippedRoute is an entry of a proxy list that failed before another
// served the request.
type SkippedRoute struct {
	// Proxy is the entry's proxy URL, nil for DIRECT.
	Proxy *url.URL
	// Err is its failure: a *ProxyError for a proxy, the dial error for DIRECT.
	Err error
}

// ConnInfoOf returns the ConnInfo of a response that a Transport returned,
// also through http.Client (with or without Client.Timeout) and through
// RoundTrippers that pass the response on. ok is false for other responses.
//
// The information travels in resp.Request's context: ferry sets
// resp.Request to a shallow copy of the request it was given, whose context
// is a child of the original.
func ConnInfoOf(resp *http.Response) (ConnInfo, bool) {
	if resp == nil || resp.Request == nil {
		return ConnInfo{}, false
	}
	ic, ok := resp.Request.Context().Value(connInfoKey{}).(*infoCtx)
	if !ok {
		return ConnInfo{}, false
	}
	info := ic.info
	if info.Proxy != nil {
		if _, has := info.Proxy.User.Password(); has {
			u := *info.Proxy
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			info.Proxy = &u
		}
	}
	return info, true
}

type connInfoKey struct{}

// infoCtx carries a response's ConnInfo; one allocation holds both the
// context link and the information.
type infoCtx struct {
	context.Context
	info ConnInfo
}

func (c *infoCtx) Value(key any) any {
	if key == (connInfoKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// request makes *dst the shallow copy of req that carries c, and returns
// it: the response's Request. dst lives in the response's per-request
// state, so the copy costs no allocation of its own (WithContext's copy is
// inlined and does not escape).
func (c *infoCtx) request(req, dst *http.Request) *http.Request {
	*dst = *req.WithContext(c)
	return dst
}

func connInfo(r *route, c *conn.Conn, reused bool) ConnInfo {
	info := ConnInfo{
		Mode:            r.mode,
		Proxy:           r.proxy,
		IsVerified:      c.IsVerified(),
		IsProxyVerified: c.IsProxyVerified(),
		Reused:          reused,
		ProxyTLS:        c.ProxyTLS(),
		WriteErr:        c.WriteErr(),
		Skipped:         r.skipped,
		Proto:           "HTTP/1.1",
		ALPN:            c.NegotiatedProtocol(),
	}
	if r.mode == proxyconfig.Forward {
		info.IsVerified = false
	}
	return info
}

// respState is allocated once per response: its body wrapper, the context
// that carries its ConnInfo, and the response's Request.
type respState struct {
	body pool.Body
	ic   infoCtx
	req  http.Request
}

func (st *respState) request(req *http.Request) *http.Request {
	return st.ic.request(req, &st.req)
}
