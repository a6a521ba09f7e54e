package compat_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/origintest"
	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/internal/testcert"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// origin is the recording origin server of ferry's tests.
type origin = origintest.Origin

// newOrigin starts an origin that records request bodies; with cert it
// speaks TLS. h answers after the request was recorded (nil: 200 "ok").
func newOrigin(t *testing.T, cert *tls.Certificate, h http.HandlerFunc) *origin {
	t.Helper()
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }
	}
	return origintest.New(t, origintest.Options{Cert: cert, Handler: h, ReadBody: true})
}

// lab is a CA, an http and an https origin answering with h, and an http
// proxy (with Basic auth when auth is "user:pass").
type lab struct {
	ca              *testcert.CA
	leaf            tls.Certificate
	plain, secure   *origin
	proxy           *proxytest.Proxy
	proxyUser, pass string
}

func newLab(t *testing.T, auth string, h http.HandlerFunc) *lab {
	t.Helper()
	ca, leaf := testcert.MustLocalhost("compat CA")
	l := &lab{ca: ca, leaf: leaf}
	if user, pass, ok := strings.Cut(auth, ":"); ok {
		l.proxyUser, l.pass = user, pass
	}
	l.plain = newOrigin(t, nil, h)
	l.secure = newOrigin(t, &leaf, h)
	p, err := proxytest.New(proxytest.Options{Auth: auth, UpstreamTLS: &tls.Config{RootCAs: ca.Pool()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	l.proxy = p
	return l
}

// via is how a test reaches an origin: directly, or through the lab's proxy
// (forwarded for http://, tunnelled for https://).
type via struct {
	name    string
	proxied bool
	secure  bool
}

var vias = []via{
	{"direct-http", false, false},
	{"direct-https", false, true},
	{"forward-http", true, false},
	{"tunnel-https", true, true},
}

// mode is the mode ferry should report for v.
func (v via) mode() proxyconfig.Mode {
	switch {
	case !v.proxied:
		return proxyconfig.Direct
	case v.secure:
		return proxyconfig.Tunnel
	}
	return proxyconfig.Forward
}

func (l *lab) origin(v via) *origin {
	if v.secure {
		return l.secure
	}
	return l.plain
}

// proxyRecord is the part of a proxytest record the tests compare.
type proxyRecord struct {
	Method, Target string
}

func (l *lab) proxyRecords() []proxyRecord {
	var out []proxyRecord
	for _, r := range l.proxy.Requests() {
		out = append(out, proxyRecord{r.Method, r.Target})
	}
	return out
}

// wantProxyRecords is what the proxy should have seen for n requests to o
// over one kept-alive connection: n absolute-form requests when forwarding,
// one CONNECT when tunnelling, nothing directly.
func wantProxyRecords(v via, o *origin, method, path string, n int) []proxyRecord {
	switch {
	case !v.proxied:
		return nil
	case v.secure:
		return []proxyRecord{{"CONNECT", o.Listener.Addr().String()}}
	}
	var out []proxyRecord
	for i := 0; i < n; i++ {
		out = append(out, proxyRecord{method, o.URL + path})
	}
	return out
}

// transport returns a ferry Transport that trusts the lab's CA and, for a
// proxied via, uses the lab's proxy (with credentials when the lab has some).
func (l *lab) transport(v via) *ferry.Transport {
	tr := &ferry.Transport{TLSClientConfig: &tls.Config{RootCAs: l.ca.Pool()}}
	if v.proxied {
		u := l.proxy.URL()
		if l.proxyUser != "" {
			u = l.proxy.URLWithAuth(l.proxyUser, l.pass)
		}
		tr.Proxy = http.ProxyURL(u)
	}
	return tr
}
