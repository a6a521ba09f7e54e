package interop_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/interop"
	"github.com/ferryhttp/ferry/internal/testcert"
)

// BenchmarkSquid: keep-alive GET through a real squid in its own process,
// forwarded (http target) and tunnelled (https target), ferry beside
// net/http in the same run.
//
//	go test -run '^$' -bench Squid -count 6 ./internal/interop/
func BenchmarkSquid(b *testing.B) {
	interop.Require(b)
	ca, leaf := testcert.MustLocalhost("bench CA")
	dir := b.TempDir()
	certFile, keyFile, err := testcert.WritePEM(dir, leaf)
	if err != nil {
		b.Fatal(err)
	}
	caFile := dir + "/ca.pem"
	if err := writeFile(caFile, ca.CertPEM); err != nil {
		b.Fatal(err)
	}
	sq := interop.StartSquid(b, interop.SquidOptions{CertFile: certFile, KeyFile: keyFile, CAFile: caFile})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	plain := newBenchOrigin(b, h, nil)
	secure := newBenchOrigin(b, h, &leaf)
	impls := []struct {
		name string
		rt   func(p *url.URL) http.RoundTripper
	}{
		{"ferry", func(p *url.URL) http.RoundTripper {
			return &ferry.Transport{Proxy: http.ProxyURL(p), TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, DisableCompression: true}
		}},
		{"nethttp", func(p *url.URL) http.RoundTripper {
			return &http.Transport{Proxy: http.ProxyURL(p), TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, DisableCompression: true}
		}},
	}
	for _, c := range []struct{ name, url string }{{"forward", plain}, {"tunnel", secure}} {
		for _, im := range impls {
			b.Run(c.name+"/"+im.name, func(b *testing.B) {
				rt := im.rt(sq.HTTP)
				req, _ := http.NewRequest("GET", c.url, nil)
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					resp, err := rt.RoundTrip(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
	}
}

func newBenchOrigin(b *testing.B, h http.Handler, cert *tls.Certificate) string {
	srv := httptest.NewUnstartedServer(h)
	if cert != nil {
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
		srv.StartTLS()
	} else {
		srv.Start()
	}
	b.Cleanup(srv.Close)
	return srv.URL
}
