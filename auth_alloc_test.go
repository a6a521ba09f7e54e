package ferry_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/proxyauth"
)

// maxProxyAuthAllocs bounds what ProxyAuth (Basic) adds to a kept-alive
// forwarded request: 3 at the time of writing (the request target Digest
// would sign, the proxyauth.Request, and one in net/http's header writing),
// the header carrying Proxy-Authorization being the connection's reusable
// one (it cost 3 more when it was a new map per request).
const maxProxyAuthAllocs = 3

// A forwarded request through a proxy that wants Basic costs at most
// maxProxyAuthAllocs allocations more than one through a proxy without credentials.
func TestProxyAuthForwardAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	// leanServer answers every request 200, absolute-form ones too: as a
	// forwarding proxy it measures the client alone.
	plain := mustURL(t, leanServer(t, []byte("ok"), nil))
	withUser := *plain
	withUser.User = url.UserPassword("u", "pw")
	allocs := func(proxy *url.URL, schemes []proxyauth.Scheme) float64 {
		tr := &ferry.Transport{Proxy: http.ProxyURL(proxy), ProxyAuth: schemes}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("GET", "http://127.0.0.1:1/x", nil)
		trip := func() {
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		trip()
		return testing.AllocsPerRun(200, trip)
	}
	without := allocs(plain, nil)
	with := allocs(&withUser, []proxyauth.Scheme{proxyauth.Basic{}})
	t.Logf("allocations per forwarded request: %v without credentials, %v with ProxyAuth Basic", without, with)
	if with-without > maxProxyAuthAllocs {
		t.Errorf("ProxyAuth Basic adds %v allocations per request, want at most %d", with-without, maxProxyAuthAllocs)
	}
}
