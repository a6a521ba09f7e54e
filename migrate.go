package ferry

import (
	"context"
	"maps"
	"net"
	"net/http"
)

// NewFromHTTPTransport returns a Transport with every setting of src that
// applies, for code that builds an *http.Transport (or clones
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
// WriteBufferSize, ReadBufferSize, and the HTTP/2 switches TLSNextProto,
// ForceAttemptHTTP2, Protocols and HTTP2. TLSClientConfig, TLSNextProto,
// Protocols, HTTP2 and ProxyConnectHeader are cloned, so src can change afterwards without affecting the result.
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
// HTTP/2 is used where src would use it: an *http.Transport that sets none
// of the switches and has no custom TLS config or dialer tries HTTP/2 in
// net/http, so the result gets ForceAttemptHTTP2 (a ferry Transport that
// sets none stays HTTP/1.1). So
// NewFromHTTPTransport(http.DefaultTransport.(*http.Transport).Clone())
// speaks h2 to an h2 origin, directly and through CONNECT tunnels; the
// handshake with an https proxy still offers http/1.1 only. TLSNextProto's
// functions are never called: ferry runs HTTP/2 with the standard
// library's engine on connections it made.
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
		TLSClientConfig:        src.TLSClientConfig.Clone(),
		ProxyTLSClientConfig:   src.TLSClientConfig.Clone(),
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
		TLSNextProto:           maps.Clone(src.TLSNextProto),
		ForceAttemptHTTP2:      src.ForceAttemptHTTP2,
		Protocols:              clonePtr(src.Protocols),
		HTTP2:                  clonePtr(src.HTTP2),
	}
	//lint:ignore SA1019 net/http's rule looks at the deprecated dialers too
	customDial := src.Dial != nil || src.DialTLS != nil || src.DialContext != nil || src.DialTLSContext != nil
	if src.Protocols == nil && src.TLSNextProto == nil && src.TLSClientConfig == nil && !customDial {
		// net/http's default for such a Transport is to try HTTP/2.
		t.ForceAttemptHTTP2 = true
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
