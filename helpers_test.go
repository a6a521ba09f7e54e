package ferry_test

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/ferryhttp/ferry/internal/origintest"
	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/internal/testcert"
)

// origin is the recording origin server of the tests.
type origin = origintest.Origin

// newOrigin starts an origin; with cert it speaks TLS. h answers (nil: 200
// "hello from <path>").
func newOrigin(t testing.TB, cert *tls.Certificate, h http.HandlerFunc) *origin {
	t.Helper()
	return origintest.New(t, origintest.Options{Cert: cert, Handler: h})
}

// world is the set of servers most proxy tests need: a CA, an HTTP and an
// HTTPS origin, an HTTP and an HTTPS proxy.
type world struct {
	ca                    *testcert.CA
	leaf                  tls.Certificate
	httpOrigin, tlsOrigin *origin
	httpProxy, tlsProxy   *proxytest.Proxy
}

func newWorld(t testing.TB, popts proxytest.Options) *world {
	t.Helper()
	ca, leaf := testcert.MustLocalhost("ferry test CA")
	w := &world{ca: ca, leaf: leaf}
	w.httpOrigin = newOrigin(t, nil, nil)
	w.tlsOrigin = newOrigin(t, &leaf, nil)
	popts.UpstreamTLS = &tls.Config{RootCAs: ca.Pool()}
	w.httpProxy = startProxy(t, popts)
	popts.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	w.tlsProxy = startProxy(t, popts)
	return w
}

func startProxy(t testing.TB, o proxytest.Options) *proxytest.Proxy {
	t.Helper()
	p, err := proxytest.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// checkNoGoroutineLeak fails when goroutines stay above base after a bounded wait.
func checkNoGoroutineLeak(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if runtime.NumGoroutine() <= base {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	t.Errorf("goroutines: %d, want <= %d\n%s", runtime.NumGoroutine(), base, buf[:n])
}
