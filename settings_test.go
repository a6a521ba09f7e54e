package ferry_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/origintest"
	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/verify"
)

// TestRefusedBeforeDial: settings and requests that cannot work are refused
// before anything is dialled, in every mode, with an error a program can
// match: a malformed pin (ConfigError wrapping verify.ErrBadFingerprint), a
// pin for a peer ferry does no TLS with (ErrInvalidConfig), a bad target
// port (ErrInvalidRequest). Neither the proxies nor the dialer see anything.
func TestRefusedBeforeDial(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	socks, err := proxytest.NewSOCKS5("", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { socks.Close() })
	pin := verify.FingerprintOf(w.leaf.Leaf)

	type proxyKind int
	const (
		none proxyKind = iota
		httpProxy
		httpsProxy
		socksProxy
	)
	proxyURL := map[proxyKind]*url.URL{httpProxy: w.httpProxy.URL(), httpsProxy: w.tlsProxy.URL(), socksProxy: socks.URL()}
	badPort := func(scheme, port string) string { return scheme + "://127.0.0.1:" + port + "/" }

	cases := []struct {
		name    string
		proxy   proxyKind
		target  string // a URL, parsed leniently (url.Parse refuses some of these itself)
		forward bool   // UseForwardingForHTTPS
		tlsDial bool   // DialTLSContext set
		origin  verify.Policy
		proxyV  verify.Policy
		want    string // "config", "pin", "request"
	}{
		{name: "malformed-origin-pin/prefix-and-dots", target: w.tlsOrigin.URL, origin: verify.Policy{Fingerprint: "sha256/9f86d0..."}, want: "pin"},
		{name: "malformed-origin-pin/00", target: w.tlsOrigin.URL, origin: verify.Policy{Fingerprint: "00"}, want: "pin"},
		{name: "malformed-proxy-pin/tunnel", proxy: httpsProxy, target: w.tlsOrigin.URL, proxyV: verify.Policy{Fingerprint: "00"}, want: "pin"},
		{name: "malformed-proxy-pin/request-without-proxy", target: w.httpOrigin.URL, proxyV: verify.Policy{Fingerprint: "sha256/9f86d0..."}, want: "pin"},

		{name: "origin-pin/http-direct", target: w.httpOrigin.URL, origin: verify.Policy{Fingerprint: pin}, want: "config"},
		{name: "origin-pin/http-forward", proxy: httpProxy, target: w.httpOrigin.URL, origin: verify.Policy{Fingerprint: pin}, want: "config"},
		{name: "origin-pin/http-socks", proxy: socksProxy, target: w.httpOrigin.URL, origin: verify.Policy{Fingerprint: pin}, want: "config"},
		{name: "origin-pin/https-forwarded-by-proxy", proxy: httpsProxy, forward: true, target: w.tlsOrigin.URL, origin: verify.Policy{Fingerprint: pin}, want: "config"},
		{name: "origin-pin/https-DialTLSContext", tlsDial: true, target: w.tlsOrigin.URL, origin: verify.Policy{Fingerprint: pin}, want: "config"},
		{name: "proxy-pin/http-proxy-forward", proxy: httpProxy, target: w.httpOrigin.URL, proxyV: verify.Policy{Fingerprint: pin}, want: "config"},
		{name: "proxy-pin/http-proxy-tunnel", proxy: httpProxy, target: w.tlsOrigin.URL, proxyV: verify.Policy{Fingerprint: pin}, want: "config"},
		{name: "proxy-pin/socks", proxy: socksProxy, target: w.tlsOrigin.URL, proxyV: verify.Policy{Fingerprint: pin}, want: "config"},
		{name: "proxy-pin/https-proxy-DialTLSContext", proxy: httpsProxy, tlsDial: true, target: w.httpOrigin.URL, proxyV: verify.Policy{Fingerprint: pin}, want: "config"},
	}
	for _, p := range []struct {
		name  string
		proxy proxyKind
	}{{"direct", none}, {"forward", httpProxy}, {"tunnel", httpProxy}, {"https-proxy", httpsProxy}, {"socks", socksProxy}} {
		scheme := "http"
		if p.name == "tunnel" || p.name == "https-proxy" {
			scheme = "https"
		}
		for _, port := range []string{"99999", "65536", "0", "00", "abc", "-1", "8o"} {
			cases = append(cases, struct {
				name    string
				proxy   proxyKind
				target  string
				forward bool
				tlsDial bool
				origin  verify.Policy
				proxyV  verify.Policy
				want    string
			}{name: "port-" + port + "/" + p.name, proxy: p.proxy, target: badPort(scheme, port), want: "request"})
		}
	}

	cases = append(cases, struct {
		name    string
		proxy   proxyKind
		target  string
		forward bool
		tlsDial bool
		origin  verify.Policy
		proxyV  verify.Policy
		want    string
	}{name: "port-99999/ipv6-direct", target: "http://[::1]:99999/", want: "request"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w.httpProxy.Reset()
			w.tlsProxy.Reset()
			socksBefore := len(socks.Targets())
			var dials atomic.Int32
			d := func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}
			tr := &ferry.Transport{
				DialContext:           d,
				UseForwardingForHTTPS: tc.forward,
				OriginVerify:          tc.origin,
				ProxyVerify:           tc.proxyV,
				TLSClientConfig:       &tls.Config{RootCAs: w.ca.Pool()},
				ProxyTLSClientConfig:  &tls.Config{RootCAs: w.ca.Pool()},
			}
			if tc.tlsDial {
				tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
					dials.Add(1)
					return (&tls.Dialer{Config: &tls.Config{RootCAs: w.ca.Pool()}}).DialContext(ctx, network, addr)
				}
			}
			if u := proxyURL[tc.proxy]; u != nil {
				tr.Proxy = http.ProxyURL(u)
			}
			t.Cleanup(tr.CloseIdleConnections)
			req := &http.Request{Method: "GET", URL: lenientURL(t, tc.target), Header: http.Header{}}
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				t.Fatalf("got %s, want an error", resp.Status)
			}
			var ce *ferry.ConfigError
			got := "other"
			switch {
			case errors.As(err, &ce) && errors.Is(err, verify.ErrBadFingerprint) && errors.Is(err, ferry.ErrInvalidConfig):
				got = "pin"
			case errors.As(err, &ce) && errors.Is(err, ferry.ErrInvalidConfig):
				got = "config"
			case errors.Is(err, ferry.ErrInvalidRequest):
				got = "request"
			}
			if got != tc.want {
				t.Errorf("error %q: %v, want %q", got, err, tc.want)
			}
			seen := struct {
				Dials, HTTPProxy, HTTPSProxy, SOCKS int
			}{int(dials.Load()), len(w.httpProxy.Requests()), len(w.tlsProxy.Requests()), len(socks.Targets()) - socksBefore}
			if diff := cmp.Diff(struct{ Dials, HTTPProxy, HTTPSProxy, SOCKS int }{}, seen); diff != "" {
				t.Errorf("reached the network (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPinsThatApply: the refusals above do not catch pins that do apply, nor
// a ProxyVerify pin when a request goes without a proxy (NO_PROXY).
func TestPinsThatApply(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	pin := verify.FingerprintOf(w.leaf.Leaf)
	viaProxy := func(r *http.Request) (*url.URL, error) {
		if r.URL.Scheme == "http" {
			return nil, nil // as NO_PROXY would
		}
		return w.tlsProxy.URL(), nil
	}
	tr := &ferry.Transport{Proxy: viaProxy, OriginVerify: verify.Policy{Fingerprint: pin}, ProxyVerify: verify.Policy{Fingerprint: "SHA256/" + pin}}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := tr.RoundTrip(mustGet(t, w.tlsOrigin.URL))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if info, _ := ferry.ConnInfoOf(resp); !info.IsVerified || !info.IsProxyVerified {
		t.Errorf("ConnInfo %+v, want both verified by their pins", info)
	}
	direct := &ferry.Transport{Proxy: viaProxy, ProxyVerify: verify.Policy{Fingerprint: pin}}
	t.Cleanup(direct.CloseIdleConnections)
	resp, err = direct.RoundTrip(mustGet(t, w.httpOrigin.URL))
	if err != nil {
		t.Fatalf("a proxy pin refused a request that uses no proxy: %v", err)
	}
	resp.Body.Close()
}

// lenientURL parses s, keeping a port that url.Parse refuses ("abc", "-1")
// so that the Transport's own check is what the test exercises.
func lenientURL(t *testing.T, s string) *url.URL {
	t.Helper()
	if u, err := url.Parse(s); err == nil {
		return u
	}
	u, err := url.Parse("http://placeholder/")
	if err != nil {
		t.Fatal(err)
	}
	scheme, rest, _ := strings.Cut(s, "://")
	host, _, _ := strings.Cut(rest, "/")
	u.Scheme, u.Host = scheme, host
	return u
}

// TestSettingsFrozenAtFirstUse: a Transport reads every field once, at its
// first use; changing fields (or the header maps and tls.Config they point
// to) afterwards changes nothing that reaches the network. Clone picks the
// new values up.
func TestSettingsFrozenAtFirstUse(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	refuse := errors.New("refused by a hook set after first use")
	proxyHeader := http.Header{"X-Team": {"before"}}
	originTLS := &tls.Config{RootCAs: w.ca.Pool()}
	tr := &ferry.Transport{TLSClientConfig: originTLS, ProxyHeader: proxyHeader}
	t.Cleanup(tr.CloseIdleConnections)

	type seen struct {
		Status          int
		Reused          bool
		Verified        bool
		AcceptEncoding  string
		ProxiedRequests int
	}
	get := func(tr *ferry.Transport, target string) seen {
		t.Helper()
		before := len(w.httpOrigin.Received()) + len(w.tlsOrigin.Received())
		resp, err := tr.RoundTrip(mustGet(t, target))
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		info, _ := ferry.ConnInfoOf(resp)
		all := append(w.httpOrigin.Received(), w.tlsOrigin.Received()...)
		if len(all) != before+1 {
			t.Fatalf("origins received %d requests, want 1", len(all)-before)
		}
		return seen{resp.StatusCode, info.Reused, info.IsVerified, lastSeen(w, target).Header.Get("Accept-Encoding"), len(w.httpProxy.Requests())}
	}

	first := []seen{get(tr, w.httpOrigin.URL), get(tr, w.tlsOrigin.URL)}

	// Everything a program might change after the first request.
	tr.Proxy = http.ProxyURL(w.httpProxy.URL())
	tr.DisableKeepAlives = true
	tr.DisableCompression = true
	tr.OnUnverifiedConn = func(ferry.ConnInfo) error { return refuse }
	tr.OriginVerify = verify.Policy{Fingerprint: "00"}
	tr.MaxIdleConnsPerHost = -1
	originTLS.RootCAs = nil
	originTLS.InsecureSkipVerify = true
	proxyHeader.Set("X-Team", "after")

	tr.CloseIdleConnections() // new connections, made with the settings of the first use
	later := []seen{get(tr, w.httpOrigin.URL), get(tr, w.httpOrigin.URL), get(tr, w.tlsOrigin.URL), get(tr, w.tlsOrigin.URL)}
	want := []seen{
		{200, false, false, "gzip", 0}, // no proxy, keep-alive, gzip asked for
		{200, true, false, "gzip", 0},
		{200, false, true, "gzip", 0}, // TLS verified with the roots of the first use
		{200, true, true, "gzip", 0},
	}
	if diff := cmp.Diff([]seen{{200, false, false, "gzip", 0}, {200, false, true, "gzip", 0}}, first); diff != "" {
		t.Errorf("first use (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, later); diff != "" {
		t.Errorf("after the fields changed (-want +got):\n%s", diff)
	}

	// A clone takes the fields as they are now.
	cl := tr.Clone()
	cl.OriginVerify = verify.Policy{}
	cl.OnUnverifiedConn = nil
	cl.MaxIdleConnsPerHost = 0
	t.Cleanup(cl.CloseIdleConnections)
	if diff := cmp.Diff(seen{200, false, false, "", 1}, get(cl, w.httpOrigin.URL)); diff != "" {
		t.Errorf("clone (-want +got):\n%s", diff)
	}
	if got := w.httpProxy.Requests()[0].Header.Get("X-Team"); got != "after" {
		t.Errorf("clone sent X-Team %q to the proxy, want %q", got, "after")
	}
}

// lastSeen is the last request that reached the origin of target.
func lastSeen(w *world, target string) origintest.Seen {
	o := w.httpOrigin
	if strings.HasPrefix(target, "https:") {
		o = w.tlsOrigin
	}
	r := o.Received()
	return r[len(r)-1]
}
