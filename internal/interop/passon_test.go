package interop_test

import (
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestForwardedProxyHeadersPassOn pins what the README says of forward mode:
// Proxy-Authorization (from the proxy URL) and ProxyHeader are headers of
// the forwarded request itself, and the proxy decides what reaches the
// origin. squid consumes Proxy-Authorization and passes X-Team on;
// tinyproxy passes both on. Through a CONNECT tunnel neither reaches it.
func TestForwardedProxyHeadersPassOn(t *testing.T) {
	e := setup(t)
	type seen struct{ ProxyAuthorization, XTeam string }
	const auth = "Basic ZmVycnk6aW50ZXJvcA==" // ferry:interop
	cases := []struct {
		name   string
		proxy  *url.URL
		target string
		want   seen
	}{
		{"squid/forward", e.squid.HTTP, e.plain.URL, seen{"", "payments"}},
		{"tinyproxy/forward", e.tiny.URL, e.plain.URL, seen{auth, "payments"}},
		{"tinyproxy/tunnel", e.tiny.URL, e.secure.URL, seen{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := *tc.proxy
			u.User = url.UserPassword("ferry", "interop")
			tr := e.transport(&u, false)
			tr.ProxyHeader = http.Header{"X-Team": {"payments"}}
			defer tr.CloseIdleConnections()
			origin := e.plain
			if tc.target == e.secure.URL {
				origin = e.secure
			}
			before := len(origin.headers())
			resp, err := (&http.Client{Transport: tr}).Get(tc.target + "/passon")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			hs := origin.headers()[before:]
			if len(hs) != 1 {
				t.Fatalf("origin got %d requests, want 1", len(hs))
			}
			got := seen{hs[0].Get("Proxy-Authorization"), hs[0].Get("X-Team")}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("what reached the origin (-want +got):\n%s", diff)
			}
		})
	}
}
