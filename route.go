package ferry

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/ferryhttp/ferry/conn"
	"github.com/ferryhttp/ferry/pool"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// route is where one request goes and how: the mode, the first origin, the
// pool key, and the headers for the proxy.
type route struct {
	mode   proxyconfig.Mode
	proxy  *url.URL
	target conn.Endpoint
	first  conn.Endpoint
	key    pool.Key

	// connectHeader goes on the CONNECT (tunnel mode); forwardHeader is added
	// to the request itself (forward mode).
	connectHeader http.Header
	forwardHeader http.Header

	// skipped are the ProxyList entries that failed before this one.
	skipped []SkippedRoute
	// h2 says whether connections of this route offer HTTP/2 (set per
	// request by muxRoute).
	h2 uint8
}

// route decides the mode for req and builds its pool key and proxy headers.
func (t *Transport) route(req *http.Request) (route, error) {
	var p *url.URL
	if proxy := t.s.proxy; proxy != nil {
		var err error
		if p, err = proxy(req); err != nil {
			return route{}, fmt.Errorf("ferry: choosing proxy: %w", err)
		}
	}
	return t.routeVia(req, p)
}

// routeVia builds the route of req through proxy p (nil: direct).
func (t *Transport) routeVia(req *http.Request, p *url.URL) (route, error) {
	var r route
	s := t.s
	u := req.URL
	r.target = conn.Endpoint{Scheme: u.Scheme, Host: u.Hostname(), Port: u.Port()}
	if r.target.Port == "" {
		r.target.Port = proxyconfig.DefaultPort(u.Scheme)
	}
	if p != nil {
		if err := proxyconfig.Validate(p); err != nil {
			return r, err
		}
		r.proxy = p
	}
	mode, err := proxyconfig.Select(r.proxy, u, s.useForwardingForHTTPS)
	if err != nil {
		return r, err
	}
	r.mode = mode
	ctxHeader := proxyHeaderFrom(req.Context())
	if r.proxy != nil {
		if s.proxyHeaderErr != nil {
			return r, s.proxyHeaderErr
		}
		if err := proxyconfig.ValidateHeader(ctxHeader); err != nil {
			return r, err
		}
	}
	if err := s.checkPins(&r); err != nil {
		return r, err
	}

	switch {
	case r.proxy == nil:
		r.first = r.target
		r.key = pool.Key{Scheme: u.Scheme, Addr: hostKey(u, r.target)}
	case isSOCKS(r.proxy):
		r.first = r.target
		r.key = pool.Key{Proxy: t.keyCache.of(r.proxy), Scheme: u.Scheme, Addr: hostKey(u, r.target)}
	case mode == proxyconfig.Forward:
		r.first = proxyEndpoint(r.proxy)
		r.key = pool.Key{Proxy: t.keyCache.of(r.proxy)}
		r.forwardHeader = t.forwardHeader(r.proxy, ctxHeader)
	default: // Tunnel
		r.first = proxyEndpoint(r.proxy)
		r.key = pool.Key{Proxy: t.keyCache.of(r.proxy), Scheme: u.Scheme, Addr: hostKey(u, r.target)}
		h, extra, err := t.connectHeader(req.Context(), r.proxy, r.target, ctxHeader)
		if err != nil {
			return r, err
		}
		r.connectHeader = h
		r.key.Extra = extra
	}
	return r, nil
}

func isSOCKS(p *url.URL) bool { return p.Scheme == "socks5" || p.Scheme == "socks5h" }

func proxyEndpoint(p *url.URL) conn.Endpoint {
	e := conn.Endpoint{Scheme: p.Scheme, Host: p.Hostname(), Port: p.Port()}
	if e.Port == "" {
		e.Port = proxyconfig.DefaultPort(p.Scheme)
	}
	return e
}

// hostKey is the target's host:port for the pool key, without allocating
// when the URL already names its port.
func hostKey(u *url.URL, e conn.Endpoint) string {
	if u.Port() != "" && !hasUpper(u.Host) {
		return u.Host
	}
	return net.JoinHostPort(strings.ToLower(e.Host), e.Port)
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// forwardHeader is what a forwarded request carries for the proxy:
// ProxyHeader, the request's own proxy headers, and Proxy-Authorization from
// the proxy URL's credentials.
func (t *Transport) forwardHeader(p *url.URL, ctxHeader http.Header) http.Header {
	auth, hasAuth := t.urlBasicAuth(p)
	ph := t.s.proxyHeader
	if len(ph) == 0 && len(ctxHeader) == 0 && !hasAuth {
		return nil
	}
	h := make(http.Header, len(ph)+len(ctxHeader)+1)
	mergeInto(h, ph)
	mergeInto(h, ctxHeader)
	if hasAuth && h.Get("Proxy-Authorization") == "" {
		h.Set("Proxy-Authorization", auth)
	}
	return h
}

// connectHeader builds the CONNECT header (ProxyConnectHeader, ProxyHeader,
// GetProxyConnectHeader's, the request's own, Proxy-Authorization) and the
// canonical text of its per-request part, which goes into the pool key.
func (t *Transport) connectHeader(ctx context.Context, p *url.URL, target conn.Endpoint, ctxHeader http.Header) (http.Header, string, error) {
	s := t.s
	var dyn http.Header
	if s.getProxyConnectHeader != nil {
		var err error
		dyn, err = s.getProxyConnectHeader(ctx, p, target.Addr())
		if err != nil {
			return nil, "", fmt.Errorf("ferry: GetProxyConnectHeader: %w", err)
		}
		if err := proxyconfig.ValidateHeader(dyn); err != nil {
			return nil, "", err
		}
	}
	auth, hasAuth := t.urlBasicAuth(p)
	n := len(s.proxyConnectHeader) + len(s.proxyHeader) + len(dyn) + len(ctxHeader)
	if n == 0 && !hasAuth {
		// The route is built for every request, also those that reuse a
		// tunnel: no header to send costs no map (the CONNECT makes its own).
		return nil, "", nil
	}
	h := make(http.Header, n+1)
	mergeInto(h, s.proxyConnectHeader)
	mergeInto(h, s.proxyHeader)
	mergeInto(h, dyn)
	mergeInto(h, ctxHeader)
	if hasAuth && h.Get("Proxy-Authorization") == "" {
		h.Set("Proxy-Authorization", auth)
	}
	return h, canonicalHeader(dyn, ctxHeader), nil
}

func mergeInto(dst, src http.Header) {
	for k, vs := range src {
		ck := http.CanonicalHeaderKey(k)
		dst[ck] = append(dst[ck], vs...)
	}
}

// canonicalHeader renders headers as one string that is equal for equal
// headers (names canonical and sorted, values in order).
func canonicalHeader(hs ...http.Header) string {
	var keys []string
	merged := make(http.Header)
	for _, h := range hs {
		mergeInto(merged, h)
	}
	if len(merged) == 0 {
		return ""
	}
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range merged[k] {
			b.WriteString(k)
			b.WriteByte(':')
			b.WriteString(v)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// keyCache remembers the key string of the last proxy URL seen: Proxy
// functions (http.ProxyURL, ProxyFromEnvironment) return the same *url.URL
// each time, so the common case costs no allocation.
type keyCache struct {
	last atomic.Pointer[keyCacheEntry]
}

type keyCacheEntry struct {
	u *url.URL
	s string
}

func (k *keyCache) of(u *url.URL) string {
	if e := k.last.Load(); e != nil && e.u == u {
		return e.s
	}
	s := u.String()
	k.last.Store(&keyCacheEntry{u: u, s: s})
	return s
}
