package ferry

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"slices"
)

// NewFromHTTPTransport returns a Transport with every setting of src that
// applies to HTTP/1.1, for code that builds an *http.Transport (or clones
// http.DefaultTransport) and wants ferry instead:
//
//	ht := http.DefaultTransport.(*http.Transport).Clone()
//	ht.MaxIdleConnsPerHost = 16
//	client := &http.Client{Transport: ferry.NewFromHTTPTransport(ht)}
//
// Copied: Proxy, OnProxyConnectResponse, DialContext, DialTLSContext,
// TLSClientConfig, TLSHandshakeTimeout, DisableKeepAlives,
// DisableCompression, MaxIdleConns, MaxIdleConnsPerHost, MaxConnsPerHost,
// IdleConnTimeout, ResponseHeaderTimeout, ExpectContinueTimeout,
// ProxyConnectHeader, GetProxyConnectHeader, MaxResponseHeaderBytes,
// WriteBufferSize and ReadBufferSize. TLSClientConfig and ProxyConnectHeader
// are cloned, so src can change afterwards without affecting the result.
// http.Transport also uses TLSClientConfig for TLS to an https:// proxy, so
// a clone of it becomes ProxyTLSClientConfig too: the converted program
// trusts its proxy exactly as before. A private CA that vouched for the proxy
// still does, and InsecureSkipVerify turns verification off for the proxy
// as well as for the targets, as it did in net/http (ConnInfo.IsProxyVerified
// is then false). To verify the proxy while the targets stay unverified,
// set the result's ProxyTLSClientConfig before its first use: to nil for
// the system roots and the proxy's host name, or to a tls.Config with the
// proxy's roots; or pin the proxy with ProxyVerify.Fingerprint. A
// ProxyVerify without a Fingerprint does not help: the config's
// InsecureSkipVerify keeps the chain and name checks off whatever the Policy
// says.
//
// The deprecated Dial and DialTLS are used, as in http.Transport, only when
// DialContext or DialTLSContext is nil: they become a DialContext or
// DialTLSContext that ignores the context (a dial is then not cancelled by
// it).
//
// Not copied, because ferry speaks HTTP/1.1 only: ForceAttemptHTTP2,
// TLSNextProto, HTTP2 and Protocols. They are ignored whatever their values;
// "h2" is removed from the cloned TLSClientConfig's NextProtos (which
// http2.ConfigureTransport and ForceAttemptHTTP2 put there), so a server
// never picks a protocol ferry cannot speak.
//
// Proxy is copied as it is: http.ProxyFromEnvironment stays net/http's
// function (no ALL_PROXY); set Proxy to ProxyFromEnvironment for ferry's.
// The other fields only ferry has (ProxyHeader, ConnectTimeout, ReadTimeout,
// OriginVerify, ...) are left zero. A nil src gives the zero Transport.
func NewFromHTTPTransport(src *http.Transport) *Transport {
	if src == nil {
		return &Transport{}
	}
	t := &Transport{
		Proxy:                  src.Proxy,
		OnProxyConnectResponse: src.OnProxyConnectResponse,
		DialContext:            src.DialContext,
		DialTLSContext:         src.DialTLSContext,
		TLSClientConfig:        http1Only(src.TLSClientConfig),
		ProxyTLSClientConfig:   http1Only(src.TLSClientConfig),
		TLSHandshakeTimeout:    src.TLSHandshakeTimeout,
		DisableKeepAlives:      src.DisableKeepAlives,
		DisableCompression:     src.DisableCompression,
		MaxIdleConns:           src.MaxIdleConns,
		MaxIdleConnsPerHost:    src.MaxIdleConnsPerHost,
		MaxConnsPerHost:        src.MaxConnsPerHost,
		IdleConnTimeout:        src.IdleConnTimeout,
		ResponseHeaderTimeout:  src.ResponseHeaderTimeout,
		ExpectContinueTimeout:  src.ExpectContinueTimeout,
		ProxyConnectHeader:     src.ProxyConnectHeader.Clone(),
		GetProxyConnectHeader:  src.GetProxyConnectHeader,
		MaxResponseHeaderBytes: src.MaxResponseHeaderBytes,
		WriteBufferSize:        src.WriteBufferSize,
		ReadBufferSize:         src.ReadBufferSize,
	}
	// http.Transport gives the context-aware dialers priority over the
	// deprecated ones; so do we.
	//lint:ignore SA1019 migrating a Transport means honouring its deprecated dialers too
	if t.DialContext == nil && src.Dial != nil {
		t.DialContext = withoutContext(src.Dial) //lint:ignore SA1019 as above
	}
	//lint:ignore SA1019 migrating a Transport means honouring its deprecated dialers too
	if t.DialTLSContext == nil && src.DialTLS != nil {
		t.DialTLSContext = withoutContext(src.DialTLS) //lint:ignore SA1019 as above
	}
	return t
}

func withoutContext(dial func(network, addr string) (net.Conn, error)) func(context.Context, string, string) (net.Conn, error) {
	return func(_ context.Context, network, addr string) (net.Conn, error) {
		return dial(network, addr)
	}
}

// http1Only clones c without "h2" in NextProtos: an http.Transport's config
// often advertises it (http2.ConfigureTransport, ForceAttemptHTTP2), and a
// server that picked it would get HTTP/1.1 bytes it cannot read.
func http1Only(c *tls.Config) *tls.Config {
	if c == nil {
		return nil
	}
	c = c.Clone()
	if slices.Contains(c.NextProtos, "h2") {
		c.NextProtos = slices.DeleteFunc(slices.Clone(c.NextProtos), func(p string) bool { return p == "h2" })
		if len(c.NextProtos) == 0 {
			c.NextProtos = nil
		}
	}
	return c
}
