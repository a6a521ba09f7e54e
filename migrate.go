package ferry

import (
	"context"
	"net"
	"net/http"
)

// NewFromHTTPTransport returns a Transport with every setting of t that
// applies to ferry: proxy, dialers (the deprecated Dial and DialTLS are
// wrapped when their Context forms are unset), TLS configuration (cloned),
// timeouts, pool limits, proxy CONNECT headers and hooks, buffer sizes,
// DisableKeepAlives and DisableCompression.
//
// HTTP/2 settings (TLSNextProto, ForceAttemptHTTP2, HTTP2, Protocols) do not
// apply: ferry speaks HTTP/1.1 only, and ignores them. The ferry-only fields
// (ProxyHeader, UseForwardingForHTTPS, ProxyTLSClientConfig, ConnectTimeout,
// ReadTimeout, OriginVerify, ProxyVerify) keep their zero values; note that
// http.Transport uses TLSClientConfig for an https proxy too, so it is also
// copied to ProxyTLSClientConfig.
func NewFromHTTPTransport(t *http.Transport) *Transport {
	if t == nil {
		return &Transport{}
	}
	f := &Transport{
		Proxy:                  t.Proxy,
		OnProxyConnectResponse: t.OnProxyConnectResponse,
		DialContext:            t.DialContext,
		DialTLSContext:         t.DialTLSContext,
		TLSClientConfig:        cloneTLS(t.TLSClientConfig),
		ProxyTLSClientConfig:   cloneTLS(t.TLSClientConfig),
		TLSHandshakeTimeout:    t.TLSHandshakeTimeout,
		DisableKeepAlives:      t.DisableKeepAlives,
		DisableCompression:     t.DisableCompression,
		MaxIdleConns:           t.MaxIdleConns,
		MaxIdleConnsPerHost:    t.MaxIdleConnsPerHost,
		MaxConnsPerHost:        t.MaxConnsPerHost,
		IdleConnTimeout:        t.IdleConnTimeout,
		ResponseHeaderTimeout:  t.ResponseHeaderTimeout,
		ExpectContinueTimeout:  t.ExpectContinueTimeout,
		ProxyConnectHeader:     t.ProxyConnectHeader.Clone(),
		GetProxyConnectHeader:  t.GetProxyConnectHeader,
		MaxResponseHeaderBytes: t.MaxResponseHeaderBytes,
		WriteBufferSize:        t.WriteBufferSize,
		ReadBufferSize:         t.ReadBufferSize,
	}
	//lint:ignore SA1019 the deprecated dialers still configure old programs.
	if f.DialContext == nil && t.Dial != nil { //nolint:staticcheck
		dial := t.Dial //nolint:staticcheck
		f.DialContext = func(_ context.Context, network, addr string) (net.Conn, error) { return dial(network, addr) }
	}
	if f.DialTLSContext == nil && t.DialTLS != nil { //nolint:staticcheck
		dial := t.DialTLS //nolint:staticcheck
		f.DialTLSContext = func(_ context.Context, network, addr string) (net.Conn, error) { return dial(network, addr) }
	}
	return f
}
