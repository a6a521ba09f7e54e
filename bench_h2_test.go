package ferry_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"testing"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/origintest"
	"github.com/ferryhttp/ferry/internal/testcert"
)

// h2BenchImpls are the two clients with HTTP/2 on, as a migrated
// http.DefaultTransport would be.
var h2BenchImpls = []benchImpl{
	{"ferry", func(c *tls.Config, p *url.URL) http.RoundTripper {
		t := &ferry.Transport{TLSClientConfig: c, ForceAttemptHTTP2: true, DisableCompression: true}
		if p != nil {
			t.Proxy = http.ProxyURL(p)
		}
		return t
	}},
	{"nethttp", func(c *tls.Config, p *url.URL) http.RoundTripper {
		t := &http.Transport{TLSClientConfig: c, ForceAttemptHTTP2: true, DisableCompression: true}
		if p != nil {
			t.Proxy = http.ProxyURL(p)
		}
		return t
	}},
}

// BenchmarkHTTP2: GET of a small body over one HTTP/2 connection, one
// request at a time and 64 streams at once, directly and through a CONNECT
// tunnel (the lean proxy), ferry beside net/http. The origin is net/http's
// HTTP/2 server in this process; each run asserts that the client used
// exactly one TCP connection.
func BenchmarkHTTP2(b *testing.B) {
	ca, leaf := testcert.MustLocalhost("bench h2 CA")
	o := origintest.New(b, origintest.Options{Cert: &leaf, HTTP2: true, Handler: func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}})
	proxy := leanProxy(b)
	cliTLS := &tls.Config{RootCAs: ca.Pool()}
	for _, route := range []struct {
		name  string
		proxy *url.URL
	}{{"direct", nil}, {"tunnel", proxy}} {
		for _, shape := range []string{"sequential", "streams64"} {
			for _, im := range h2BenchImpls {
				b.Run(route.name+"/"+shape+"/"+im.name, func(b *testing.B) {
					rt := im.rt(cliTLS, route.proxy)
					defer rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
					before := o.ConnCount()
					req, _ := http.NewRequest("GET", o.URL, nil)
					roundTripH2(b, rt, req)
					b.ReportAllocs()
					b.ResetTimer()
					if shape == "sequential" {
						for i := 0; i < b.N; i++ {
							roundTripH2(b, rt, req)
						}
					} else {
						b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
						b.RunParallel(func(pb *testing.PB) {
							for pb.Next() {
								roundTripH2(b, rt, req)
							}
						})
					}
					b.StopTimer()
					if n := o.ConnCount() - before; n != 1 {
						b.Fatalf("%s used %d TCP connections, want 1", im.name, n)
					}
				})
			}
		}
	}
}

func roundTripH2(b *testing.B, rt http.RoundTripper, req *http.Request) {
	resp, err := rt.RoundTrip(req)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		b.Fatalf("got %s, want HTTP/2", resp.Proto)
	}
}
