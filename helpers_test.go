package ferry_test

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/internal/testcert"
)

// origin is an httptest server that records what reached it and how many
// TCP connections it accepted.
type origin struct {
	*httptest.Server
	mu    sync.Mutex
	reqs  []*http.Request
	conns int
	idle  map[net.Conn]bool
}

// killIdle closes the server side of every idle keep-alive connection, as a
// server whose keep-alive timeout fired would.
func (o *origin) killIdle() {
	o.mu.Lock()
	for c := range o.idle {
		c.Close()
	}
	clear(o.idle)
	o.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
}

func (o *origin) received() []*http.Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*http.Request(nil), o.reqs...)
}

func (o *origin) connCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.conns
}

func newOrigin(t testing.TB, cert *tls.Certificate, h http.HandlerFunc, configure ...func(*http.Server)) *origin {
	t.Helper()
	o := &origin{idle: make(map[net.Conn]bool)}
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello from "+r.URL.Path) }
	}
	o.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.reqs = append(o.reqs, r.Clone(r.Context()))
		o.mu.Unlock()
		h(w, r)
	}))
	o.Config.ConnState = func(c net.Conn, s http.ConnState) {
		o.mu.Lock()
		defer o.mu.Unlock()
		switch s {
		case http.StateNew:
			o.conns++
		case http.StateIdle:
			o.idle[c] = true
		default:
			delete(o.idle, c)
		}
	}
	for _, f := range configure {
		f(o.Config)
	}
	if cert != nil {
		o.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
		o.StartTLS()
	} else {
		o.Start()
	}
	t.Cleanup(o.Close)
	return o
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
