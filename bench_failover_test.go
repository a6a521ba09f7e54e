package ferry_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/ferryhttp/ferry"
)

// BenchmarkFailover: keep-alive GET through leanProxy (forward mode), with
// ferry given a proxy list. "first" is a list whose first entry works: the
// cost of the list itself. "dead-first" puts a closed port first and never
// marks it bad, so every request pays one refused dial before the working
// entry: the time to fail over. "dead-marked" is the same list with the
// default BadProxyTimeout, so after the first request the dead entry is tried
// last. nethttp, which has no proxy list, goes straight to the working proxy.
func BenchmarkFailover(b *testing.B) {
	srv := benchServersFor(b)
	lean := mustURL(b, srv.Lean)
	dead := closedPort(b, "http")
	cases := []struct {
		name string
		list []*url.URL
		bad  time.Duration // BadProxyTimeout
	}{
		{"first", []*url.URL{lean}, 0},
		{"dead-first", []*url.URL{dead, lean}, -1},
		{"dead-marked", []*url.URL{dead, lean}, 0},
	}
	for _, c := range cases {
		b.Run(c.name+"/ferry", func(b *testing.B) {
			rt := &ferry.Transport{DisableCompression: true, BadProxyTimeout: c.bad,
				ProxyList: func(*http.Request) ([]*url.URL, error) { return c.list, nil }}
			req, _ := http.NewRequest("GET", srv.Small, nil)
			sequential(b, rt, req)
		})
	}
	b.Run("nethttp", func(b *testing.B) {
		rt := &http.Transport{DisableCompression: true, Proxy: http.ProxyURL(lean)}
		req, _ := http.NewRequest("GET", srv.Small, nil)
		sequential(b, rt, req)
	})
}
