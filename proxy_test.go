package ferry_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// modeRow is one row of the mode table, as a test case.
type modeRow struct {
	name       string
	proxy      string // "", "http", "https"
	target     string // "http", "https"
	forwarding bool

	wantMode          proxyconfig.Mode
	wantVerified      bool
	wantProxyVerified bool
	wantTarget        func(w *world) string // request-target the proxy saw
}

func (r modeRow) String() string {
	return fmt.Sprintf("proxy=%q target=%s UseForwardingForHTTPS=%v", r.proxy, r.target, r.forwarding)
}

func modeRows() []modeRow {
	abs := func(o func(w *world) *origin) func(w *world) string {
		return func(w *world) string { return o(w).URL + "/row" }
	}
	authority := func(w *world) string { return strings.TrimPrefix(w.tlsOrigin.URL, "https://") }
	httpO := func(w *world) *origin { return w.httpOrigin }
	tlsO := func(w *world) *origin { return w.tlsOrigin }
	return []modeRow{
		{name: "direct-http", target: "http", wantMode: proxyconfig.Direct},
		{name: "direct-https", target: "https", wantMode: proxyconfig.Direct, wantVerified: true},
		{name: "httpproxy-http", proxy: "http", target: "http", wantMode: proxyconfig.Forward, wantTarget: abs(httpO)},
		{name: "httpproxy-https", proxy: "http", target: "https", wantMode: proxyconfig.Tunnel, wantVerified: true, wantTarget: authority},
		{name: "httpproxy-https-forwarding-ignored", proxy: "http", target: "https", forwarding: true, wantMode: proxyconfig.Tunnel, wantVerified: true, wantTarget: authority},
		{name: "httpsproxy-http", proxy: "https", target: "http", wantMode: proxyconfig.Forward, wantProxyVerified: true, wantTarget: abs(httpO)},
		{name: "httpsproxy-https", proxy: "https", target: "https", wantMode: proxyconfig.Tunnel, wantVerified: true, wantProxyVerified: true, wantTarget: authority},
		{name: "httpsproxy-https-forwarding", proxy: "https", target: "https", forwarding: true, wantMode: proxyconfig.Forward, wantProxyVerified: true, wantTarget: abs(tlsO)},
	}
}

func (w *world) transport(r modeRow, auth *url.Userinfo) *ferry.Transport {
	tr := &ferry.Transport{
		TLSClientConfig:       &tls.Config{RootCAs: w.ca.Pool()},
		ProxyTLSClientConfig:  &tls.Config{RootCAs: w.ca.Pool()},
		UseForwardingForHTTPS: r.forwarding,
		ProxyHeader:           http.Header{"X-Proxy-Header": {"static"}},
	}
	var p *url.URL
	switch r.proxy {
	case "http":
		p = w.httpProxy.URL()
	case "https":
		p = w.tlsProxy.URL()
	}
	if p != nil {
		p.User = auth
		tr.Proxy = http.ProxyURL(p)
	}
	return tr
}

func (w *world) origin(r modeRow) *origin {
	if r.target == "https" {
		return w.tlsOrigin
	}
	return w.httpOrigin
}

func (w *world) proxyOf(r modeRow) *proxytest.Proxy {
	if r.proxy == "https" {
		return w.tlsProxy
	}
	return w.httpProxy
}

type rowResult struct {
	Status          int
	Body            string
	Mode            proxyconfig.Mode
	IsVerified      bool
	IsProxyVerified bool
	Reused          []bool
	TLSNil          bool
}

// TestModeTable sends two requests per row through http.Client and checks the
// response, ConnInfo, what the proxy received and what reached the origin.
func TestModeTable(t *testing.T) {
	for _, row := range modeRows() {
		t.Run(row.name, func(t *testing.T) {
			w := newWorld(t, proxytest.Options{})
			tr := w.transport(row, url.UserPassword("alice", "s3cret"))
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			o := w.origin(row)
			var got rowResult
			for i := 0; i < 2; i++ {
				resp, err := client.Get(o.URL + "/row")
				if err != nil {
					t.Fatalf("%v: %v", row, err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				info, ok := ferry.ConnInfoOf(resp)
				if !ok {
					t.Fatal("ConnInfoOf: no info")
				}
				got.Status, got.Body, got.Mode = resp.StatusCode, string(body), info.Mode
				got.IsVerified, got.IsProxyVerified = info.IsVerified, info.IsProxyVerified
				got.Reused = append(got.Reused, info.Reused)
				got.TLSNil = resp.TLS == nil
				if row.proxy != "" {
					if info.Proxy == nil || strings.Contains(info.Proxy.String(), "s3cret") {
						t.Errorf("ConnInfo.Proxy = %v, want the proxy with its password redacted", info.Proxy)
					}
				}
			}
			want := rowResult{Status: 200, Body: "hello from /row", Mode: row.wantMode, IsVerified: row.wantVerified,
				IsProxyVerified: row.wantProxyVerified, Reused: []bool{false, true},
				TLSNil: row.target == "http" || row.wantMode == proxyconfig.Forward}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%v: (-want +got):\n%s", row, diff)
			}

			// What reached the origin: never the proxy's headers through a
			// tunnel, never the proxy's credentials.
			for _, r := range o.Received() {
				if v := r.Header.Get("Proxy-Authorization"); v != "" {
					t.Errorf("origin got Proxy-Authorization %q", v)
				}
				if row.wantMode != proxyconfig.Forward && r.Header.Get("X-Proxy-Header") != "" {
					t.Errorf("origin got X-Proxy-Header through %v", row.wantMode)
				}
				if r.Host != strings.TrimPrefix(strings.TrimPrefix(o.URL, "http://"), "https://") {
					t.Errorf("origin got Host %q", r.Host)
				}
			}
			// In forward mode the origin's connections are the proxy's
			// business (proxytest dials per request); ferry's reuse shows in
			// the proxy's client connection count below.
			if got := o.ConnCount(); got != 1 && row.wantMode != proxyconfig.Forward {
				t.Errorf("origin saw %d connections, want 1 (reuse)", got)
			}
			if row.proxy == "" {
				return
			}
			// What reached the proxy.
			recs := w.proxyOf(row).Requests()
			wantMethod := http.MethodGet
			if row.wantMode == proxyconfig.Tunnel {
				wantMethod = http.MethodConnect
				if len(recs) != 1 {
					t.Fatalf("proxy got %d requests, want one CONNECT: %+v", len(recs), recs)
				}
			} else if len(recs) != 2 {
				t.Fatalf("proxy got %d requests, want 2 forwarded: %+v", len(recs), recs)
			}
			for _, rec := range recs {
				if rec.Method != wantMethod || rec.Target != row.wantTarget(w) || rec.Proto != "HTTP/1.1" {
					t.Errorf("proxy got %q, want %s %s HTTP/1.1", rec.RequestLine(), wantMethod, row.wantTarget(w))
				}
				if got, want := rec.Header.Get("Proxy-Authorization"), "Basic YWxpY2U6czNjcmV0"; got != want {
					t.Errorf("proxy got Proxy-Authorization %q, want %q", got, want)
				}
				if got := rec.Header.Get("X-Proxy-Header"); got != "static" {
					t.Errorf("proxy got X-Proxy-Header %q, want static", got)
				}
				if wantMethod == http.MethodConnect && rec.Host != rec.Target {
					t.Errorf("CONNECT Host %q, want %q", rec.Host, rec.Target)
				}
			}
			if n := w.proxyOf(row).Conns(); n != 1 {
				t.Errorf("proxy saw %d client connections, want 1", n)
			}
		})
	}
}

// TestTunnelPerRequestHeaders: a tunnel made with one set of per-request
// headers is never handed to a request with another.
func TestTunnelPerRequestHeaders(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	tr := &ferry.Transport{
		Proxy:           http.ProxyURL(w.httpProxy.URL()),
		TLSClientConfig: &tls.Config{RootCAs: w.ca.Pool()},
		GetProxyConnectHeader: func(ctx context.Context, p *url.URL, target string) (http.Header, error) {
			return http.Header{"X-Tenant": {ctx.Value(tenantKey{}).(string)}}, nil
		},
	}
	defer tr.CloseIdleConnections()
	get := func(tenant string, extra http.Header) {
		t.Helper()
		ctx := context.WithValue(context.Background(), tenantKey{}, tenant)
		if extra != nil {
			ctx = ferry.WithProxyHeader(ctx, extra)
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", w.tlsOrigin.URL, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get("a", nil)
	get("a", nil)
	get("b", nil)
	get("a", http.Header{"X-Trace": {"1"}})
	var got []string
	for _, r := range w.httpProxy.Requests() {
		got = append(got, r.Method+" tenant="+r.Header.Get("X-Tenant")+" trace="+r.Header.Get("X-Trace"))
	}
	want := []string{"CONNECT tenant=a trace=", "CONNECT tenant=b trace=", "CONNECT tenant=a trace=1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CONNECTs (-want +got):\n%s", diff)
	}
}

type tenantKey struct{}

// TestProxyErrors: every failure that is the proxy's is a *ProxyError,
// through http.Client's *url.Error, with what the proxy said.
func TestProxyErrors(t *testing.T) {
	cases := []struct {
		name          string
		fault         proxytest.Fault
		wantConnected bool
		wantStatus    int
		wantBody      string
		wantIs        error
	}{
		{name: "refused-407", fault: proxytest.Fault{Kind: proxytest.RefuseConnect, Status: 407,
			Header: http.Header{"Proxy-Authenticate": {`Basic realm="x"`}}, Body: "who are you"},
			wantConnected: true, wantStatus: 407, wantBody: "who are you", wantIs: ferry.ErrConnectRefused},
		{name: "refused-502", fault: proxytest.Fault{Kind: proxytest.RefuseConnect, Status: 502, Body: "bad gateway page"},
			wantConnected: true, wantStatus: 502, wantBody: "bad gateway page", wantIs: ferry.ErrConnectRefused},
		{name: "garbage", fault: proxytest.Fault{Kind: proxytest.Garbage}, wantConnected: true},
		{name: "close-mid-reply", fault: proxytest.Fault{Kind: proxytest.CloseMidReply}, wantConnected: true},
		{name: "close-before-reply", fault: proxytest.Fault{Kind: proxytest.CloseBeforeReply}, wantConnected: true},
		{name: "endless-reply", fault: proxytest.Fault{Kind: proxytest.EndlessReply}, wantConnected: true, wantIs: ferry.ErrResponseHeaderTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, proxytest.Options{Fault: tc.fault})
			tr := &ferry.Transport{Proxy: http.ProxyURL(w.httpProxy.URLWithAuth("u", "pw")), TLSClientConfig: &tls.Config{RootCAs: w.ca.Pool()},
				MaxResponseHeaderBytes: 64 << 10}
			_, err := (&http.Client{Transport: tr}).Get(w.tlsOrigin.URL)
			var pe *ferry.ProxyError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *ferry.ProxyError", err, err)
			}
			got := struct {
				Connected bool
				Status    int
				Body      string
			}{pe.HasConnectedToProxy, pe.StatusCode, string(pe.Body)}
			want := struct {
				Connected bool
				Status    int
				Body      string
			}{tc.wantConnected, tc.wantStatus, tc.wantBody}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("err = %v, want errors.Is %v", err, tc.wantIs)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Errorf("error leaks the proxy password: %v", err)
			}
			if len(w.tlsOrigin.Received()) != 0 {
				t.Errorf("origin was reached")
			}
		})
	}
	t.Run("dial-refused", func(t *testing.T) {
		p := startProxy(t, proxytest.Options{})
		u := p.URL()
		p.Close()
		tr := &ferry.Transport{Proxy: http.ProxyURL(u)}
		_, err := (&http.Client{Transport: tr}).Get("http://127.0.0.1:1/")
		var pe *ferry.ProxyError
		if !errors.As(err, &pe) || pe.HasConnectedToProxy {
			t.Fatalf("err = %v, want *ProxyError with HasConnectedToProxy false", err)
		}
	})
	t.Run("forward-407-is-a-response", func(t *testing.T) {
		w := newWorld(t, proxytest.Options{Auth: "u:pw"})
		tr := &ferry.Transport{Proxy: http.ProxyURL(w.httpProxy.URL())}
		resp, err := (&http.Client{Transport: tr}).Get(w.httpOrigin.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 407 {
			t.Errorf("status %d, want 407", resp.StatusCode)
		}
	})
	t.Run("proxy-cert-untrusted", func(t *testing.T) {
		w := newWorld(t, proxytest.Options{})
		tr := &ferry.Transport{Proxy: http.ProxyURL(w.tlsProxy.URL()), TLSClientConfig: &tls.Config{RootCAs: w.ca.Pool()}}
		_, err := (&http.Client{Transport: tr}).Get(w.tlsOrigin.URL)
		var pe *ferry.ProxyError
		var cve *tls.CertificateVerificationError
		if !errors.As(err, &pe) || !errors.As(err, &cve) {
			t.Fatalf("err = %v, want *ProxyError wrapping *tls.CertificateVerificationError", err)
		}
	})
	t.Run("origin-cert-untrusted-is-not-proxy-error", func(t *testing.T) {
		w := newWorld(t, proxytest.Options{})
		tr := &ferry.Transport{Proxy: http.ProxyURL(w.httpProxy.URL())}
		_, err := (&http.Client{Transport: tr}).Get(w.tlsOrigin.URL)
		var pe *ferry.ProxyError
		var ue *url.Error
		if errors.As(err, &pe) {
			t.Fatalf("err = %v is a ProxyError; the origin failed", err)
		}
		if !errors.As(err, &ue) {
			t.Fatalf("err = %v", err)
		}
		if _, ok := ue.Err.(*tls.CertificateVerificationError); !ok {
			t.Errorf("url.Error.Err = %T, want *tls.CertificateVerificationError itself (go-retryablehttp asserts it)", ue.Err)
		}
	})
}

// TestInvalidProxyInput: bad proxy configuration is refused before any dial.
func TestInvalidProxyInput(t *testing.T) {
	p := startProxy(t, proxytest.Options{})
	cases := []struct {
		name   string
		tr     *ferry.Transport
		ctx    func(context.Context) context.Context
		wantIs error
	}{
		{name: "ftp-proxy", tr: &ferry.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "ftp", Host: p.URL().Host})}, wantIs: proxyconfig.ErrUnsupportedScheme},
		{name: "proxy-path", tr: &ferry.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: p.URL().Host, Path: "/x"})}, wantIs: proxyconfig.ErrPathOrQuery},
		{name: "crlf-proxy-header", tr: &ferry.Transport{Proxy: http.ProxyURL(p.URL()), ProxyHeader: http.Header{"X-A": {"v\r\nInjected: 1"}}}, wantIs: proxyconfig.ErrInvalidHeader},
		{name: "crlf-connect-header", tr: &ferry.Transport{Proxy: http.ProxyURL(p.URL()), ProxyConnectHeader: http.Header{"X-A": {"v\nx"}}}, wantIs: proxyconfig.ErrInvalidHeader},
		{name: "crlf-per-request", tr: &ferry.Transport{Proxy: http.ProxyURL(p.URL())},
			ctx: func(c context.Context) context.Context {
				return ferry.WithProxyHeader(c, http.Header{"X-A": {"\x00"}})
			}, wantIs: proxyconfig.ErrInvalidHeader},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx(ctx)
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", "https://127.0.0.1:9/", nil)
			_, err := tc.tr.RoundTrip(req)
			if !errors.Is(err, tc.wantIs) {
				t.Errorf("err = %v, want %v", err, tc.wantIs)
			}
		})
	}
	if n := len(p.Requests()); n != 0 {
		t.Errorf("proxy got %d requests; bad input must be refused before sending", n)
	}
}
