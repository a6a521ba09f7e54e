package ferry_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// hostAs returns the URL of an httptest server with its host name replaced
// ("127.0.0.1" by "localhost"), so http.Client sees another host.
func hostAs(t *testing.T, raw, host string) string {
	t.Helper()
	u := mustURL(t, raw)
	u.Host = host + ":" + u.Port()
	return u.String()
}

// TestRedirectThroughProxy follows redirects across schemes through one
// Transport and one proxy: http to https switches from forwarding to a
// CONNECT tunnel (and back), http.Client keeps or strips Authorization by
// its per-host rule, and nothing meant for the proxy reaches an origin.
func TestRedirectThroughProxy(t *testing.T) {
	cases := []struct {
		name        string
		fromTLS     bool   // the first origin is the https one
		toHost      string // host name of the second origin's URL
		wantModes   []proxyconfig.Mode
		wantAuthHop []bool // Authorization reached the first, the second origin
	}{
		// net/http strips Authorization when the host name changes...
		{"http-to-https-other-host", false, "localhost", []proxyconfig.Mode{proxyconfig.Forward, proxyconfig.Tunnel}, []bool{true, false}},
		// ...and keeps it for the same host name on another port (and scheme).
		{"http-to-https-same-host", false, "127.0.0.1", []proxyconfig.Mode{proxyconfig.Forward, proxyconfig.Tunnel}, []bool{true, true}},
		{"https-to-http-other-host", true, "localhost", []proxyconfig.Mode{proxyconfig.Tunnel, proxyconfig.Forward}, []bool{true, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, proxytest.Options{Auth: "alice:s3cret"})
			var target string // set before the first request
			plain, secure := newRedirector(t, w, &target)
			first, second := plain, secure
			if tc.fromTLS {
				first, second = secure, plain
			}
			target = hostAs(t, second.URL, tc.toHost) + "/landed"

			tr := &ferry.Transport{
				Proxy:              http.ProxyURL(w.httpProxy.URLWithAuth("alice", "s3cret")),
				TLSClientConfig:    &tls.Config{RootCAs: w.ca.Pool()},
				ProxyHeader:        http.Header{"X-Proxy-Hint": {"for-the-proxy"}},
				ProxyConnectHeader: http.Header{"X-Connect-Only": {"yes"}},
			}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}

			ctx := ferry.WithProxyHeader(context.Background(), http.Header{"X-Per-Request": {"p"}})
			req, err := http.NewRequestWithContext(ctx, "GET", first.URL+"/start", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer origin-token")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "hello from /landed" {
				t.Errorf("body %q, want the second origin's", body)
			}
			info, ok := ferry.ConnInfoOf(resp)
			if !ok || info.Mode != tc.wantModes[1] {
				t.Errorf("final response's mode %v (ok %v), want %v", info.Mode, ok, tc.wantModes[1])
			}

			// The proxy: an absolute-form GET and a CONNECT, in redirect order,
			// each with the proxy's credentials and headers where they belong.
			type rec struct {
				Method, Target, ProxyAuth, Hint, PerRequest, ConnectOnly, Authorization string
			}
			var got []rec
			for _, r := range w.httpProxy.Requests() {
				got = append(got, rec{r.Method, r.Target, r.Header.Get("Proxy-Authorization"), r.Header.Get("X-Proxy-Hint"),
					r.Header.Get("X-Per-Request"), r.Header.Get("X-Connect-Only"), r.Header.Get("Authorization")})
			}
			const basic = "Basic YWxpY2U6czNjcmV0"
			var want []rec
			urls := []string{first.URL + "/start", target}
			for i, m := range tc.wantModes {
				u := mustURL(t, urls[i])
				switch m {
				case proxyconfig.Forward:
					// Forwarded: the whole request goes to the proxy, origin headers included.
					auth := ""
					if tc.wantAuthHop[i] {
						auth = "Bearer origin-token"
					}
					want = append(want, rec{"GET", u.String(), basic, "for-the-proxy", "p", "", auth})
				case proxyconfig.Tunnel:
					// CONNECT: proxy headers only; never the origin's Authorization.
					want = append(want, rec{"CONNECT", u.Host, basic, "for-the-proxy", "p", "yes", ""})
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("proxy received (-want +got):\n%s", diff)
			}

			// The origins: Authorization as http.Client decided; nothing of the
			// proxy's. Through the tunnel ferry alone decides what arrives; in
			// forward mode the proxy consumed Proxy-Authorization, and the
			// CONNECT-only header was never on the request.
			for i, o := range []*origin{first, second} {
				rs := o.Received()
				if len(rs) != 1 {
					t.Fatalf("origin %d got %d requests, want 1", i, len(rs))
				}
				h := rs[0].Header
				if got := h.Get("Authorization") != ""; got != tc.wantAuthHop[i] {
					t.Errorf("origin %d: Authorization present %v, want %v", i, got, tc.wantAuthHop[i])
				}
				leaks := []string{"Proxy-Authorization", "X-Connect-Only"}
				if tc.wantModes[i] == proxyconfig.Tunnel {
					leaks = append(leaks, "X-Proxy-Hint", "X-Per-Request")
				}
				for _, k := range leaks {
					if v := h.Get(k); v != "" {
						t.Errorf("origin %d (%v) got %s: %q", i, tc.wantModes[i], k, v)
					}
				}
			}
		})
	}
}

// newRedirector starts an http and an https origin that answer /start with
// a 302 to *target and anything else with "hello from <path>".
func newRedirector(t *testing.T, w *world, target *string) (plain, secure *origin) {
	t.Helper()
	h := func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			http.Redirect(rw, r, *target, http.StatusFound)
			return
		}
		io.WriteString(rw, "hello from "+r.URL.Path)
	}
	return newOrigin(t, nil, h), newOrigin(t, &w.leaf, h)
}

// TestRedirectReusesConnections: the same redirect chain twice on one
// Transport reuses the forwarding connection and the tunnel.
func TestRedirectReusesConnections(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	var target string
	plain, secure := newRedirector(t, w, &target)
	target = hostAs(t, secure.URL, "localhost") + "/landed"
	tr := &ferry.Transport{Proxy: http.ProxyURL(w.httpProxy.URL()), TLSClientConfig: &tls.Config{RootCAs: w.ca.Pool()}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for i := 0; i < 2; i++ {
		resp, err := client.Get(plain.URL + "/start")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	var methods []string
	for _, r := range w.httpProxy.Requests() {
		methods = append(methods, r.Method)
	}
	if diff := cmp.Diff([]string{"GET", "CONNECT", "GET"}, methods); diff != "" {
		t.Errorf("proxy requests (-want +got):\n%s", diff)
	}
	if n := w.httpProxy.Conns(); n != 2 {
		t.Errorf("proxy accepted %d connections, want 2 (one forwarding, one tunnel)", n)
	}
}
