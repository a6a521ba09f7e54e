package compat_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/ferryhttp/ferry"
)

// TestOAuth2: oauth2.Transport{Base: ferry} puts the bearer token on the
// request to the origin. The proxy (with its own Basic credentials) never
// gets the token on a CONNECT or in a Proxy-* header; when it forwards a
// plain-http request it sees the request's Authorization, as any forwarding
// proxy must, but its own credentials stay Basic and never reach the origin.
func TestOAuth2(t *testing.T) {
	const token = "tok-3f9a"
	for _, v := range vias {
		t.Run(v.name, func(t *testing.T) {
			l := newLab(t, "proxyuser:proxypass", nil)
			o := l.origin(v)
			tr := l.transport(v)
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: &oauth2.Transport{
				Base:   tr,
				Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token, TokenType: "Bearer"}),
			}}
			for i := 0; i < 2; i++ {
				resp, err := client.Get(o.URL + "/api")
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", resp.StatusCode)
				}
				// ConnInfo survives the wrapper.
				if info, ok := ferry.ConnInfoOf(resp); !ok || info.Mode != v.mode() || info.Reused != (i > 0) {
					t.Errorf("request %d: ConnInfoOf = %+v, %v; want mode %v, reused %v", i, info, ok, v.mode(), i > 0)
				}
			}
			for i, s := range o.Received() {
				if got := s.Header.Get("Authorization"); got != "Bearer "+token {
					t.Errorf("origin request %d: Authorization %q, want the bearer token", i, got)
				}
				if got := s.Header.Get("Proxy-Authorization"); got != "" {
					t.Errorf("origin request %d: got the proxy's credentials %q", i, got)
				}
			}
			if diff := cmp.Diff(wantProxyRecords(v, o, "GET", "/api", 2), l.proxyRecords()); diff != "" {
				t.Errorf("proxy received (-want +got):\n%s", diff)
			}
			for _, r := range l.proxy.Requests() {
				if got := r.Header.Get("Proxy-Authorization"); got != "Basic cHJveHl1c2VyOnByb3h5cGFzcw==" {
					t.Errorf("%s: Proxy-Authorization %q, want the proxy's Basic credentials", r.RequestLine(), got)
				}
				for k, vs := range r.Header {
					leak := strings.Contains(strings.Join(vs, " "), token)
					switch {
					case leak && r.Method == http.MethodConnect:
						t.Errorf("CONNECT carried the token in %s", k)
					case leak && strings.HasPrefix(k, "Proxy-"):
						t.Errorf("%s carried the token in %s", r.RequestLine(), k)
					case leak && k != "Authorization":
						t.Errorf("%s carried the token in %s", r.RequestLine(), k)
					}
				}
			}
		})
	}
}
