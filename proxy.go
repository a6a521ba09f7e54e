package ferry

import (
	"context"
	"net/http"
	"net/url"
	"sync"

	"github.com/ferryhttp/ferry/conn"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// ProxyError reports a failure that is the proxy's: dialling it, TLS to it,
// a CONNECT it refused (StatusCode, Header and up to 64 KiB of Body kept), a
// garbled or oversized CONNECT reply, a SOCKS refusal. Failures past the
// proxy (TLS to the target, the target's reply) are not ProxyErrors. Use
// errors.As; it works through http.Client's *url.Error.
type ProxyError = conn.ProxyError

// Sentinels for errors.Is, re-exported from package conn.
var (
	// ErrConnectRefused: the proxy answered CONNECT with a non-2xx status.
	ErrConnectRefused = conn.ErrConnectRefused
	// ErrResponseHeaderTooLarge: a response header or CONNECT reply exceeded MaxResponseHeaderBytes.
	ErrResponseHeaderTooLarge = conn.ErrResponseHeaderTooLarge
	// ErrEarlyResponse: the server answered before the request body was sent (see ConnInfo.WriteErr).
	ErrEarlyResponse = conn.ErrEarlyResponse
)

// envProxy is built from the environment on first use, as net/http does.
var envProxy = sync.OnceValue(func() func(*url.URL) (*url.URL, error) {
	return proxyconfig.FromEnvironment().ProxyFunc()
})

// ProxyFromEnvironment returns the proxy for req from HTTP_PROXY, HTTPS_PROXY
// and NO_PROXY (or their lower-case forms), with ALL_PROXY as the fallback for
// both schemes, read once on first use (golang.org/x/net/http/httpproxy's
// rules: loopback targets are never proxied; NO_PROXY takes names, leading
// dots, CIDRs, ports and "*"). Set it as Transport.Proxy; the zero Transport
// uses no proxy.
func ProxyFromEnvironment(req *http.Request) (*url.URL, error) {
	return envProxy()(req.URL)
}

type proxyHeaderKey struct{}

// WithProxyHeader returns a context whose requests carry h to the proxy: on
// the CONNECT in tunnel mode (a tunnel is then not shared with requests that
// carry other headers, and nothing of it reaches the target) and on the
// request itself in forward mode, where the proxy may pass them on to the
// target (see Transport.ProxyHeader). Calls add up; h is copied.
func WithProxyHeader(ctx context.Context, h http.Header) context.Context {
	merged := proxyHeaderFrom(ctx).Clone()
	if merged == nil {
		merged = make(http.Header, len(h))
	}
	mergeInto(merged, h)
	return context.WithValue(ctx, proxyHeaderKey{}, merged)
}

func proxyHeaderFrom(ctx context.Context) http.Header {
	h, _ := ctx.Value(proxyHeaderKey{}).(http.Header)
	return h
}
