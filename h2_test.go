package ferry_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/origintest"
	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// h2World is newWorld plus an HTTP/2 TLS origin, an HTTP/1.1-only TLS
// origin, an h2c origin and a SOCKS5 proxy.
type h2World struct {
	*world
	h2Origin, h1Origin, h2cOrigin *origin
	socks                         *proxytest.SOCKS5
}

func newH2World(t testing.TB, h http.HandlerFunc) *h2World {
	t.Helper()
	w := &h2World{world: newWorld(t, proxytest.Options{})}
	w.h2Origin = origintest.New(t, origintest.Options{Cert: &w.leaf, HTTP2: true, Handler: h})
	w.h1Origin = origintest.New(t, origintest.Options{Cert: &w.leaf, Handler: h})
	w.h2cOrigin = origintest.New(t, origintest.Options{Handler: h, Configure: func(s *http.Server) {
		s.Protocols = new(http.Protocols)
		s.Protocols.SetHTTP1(true)
		s.Protocols.SetUnencryptedHTTP2(true)
	}})
	s, err := proxytest.NewSOCKS5("", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	w.socks = s
	return w
}

// h2Transport is a Transport with HTTP/2 on, trusting the world's CA.
func (w *h2World) h2Transport(proxy *url.URL) *ferry.Transport {
	tr := &ferry.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: w.ca.Pool()}}
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy)
	}
	return tr
}

type protoSeen struct {
	Status         int
	Client, Origin string // resp.Proto, what the origin saw
	Info, ALPN     string // ConnInfo.Proto, ConnInfo.ALPN
	Mode           proxyconfig.Mode
}

func getProto(t *testing.T, tr http.RoundTripper, o *origin, rawURL string, hdr http.Header) protoSeen {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	before := len(o.Received())
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	info, ok := ferry.ConnInfoOf(resp)
	if !ok {
		t.Fatal("no ConnInfo")
	}
	seen := o.Received()
	if len(seen) != before+1 {
		t.Fatalf("origin saw %d requests, want %d", len(seen), before+1)
	}
	return protoSeen{Status: resp.StatusCode, Client: resp.Proto, Origin: seen[before].Proto, Info: info.Proto, ALPN: info.ALPN, Mode: info.Mode}
}

// TestHTTP2Modes: every row of the mode table that should speak HTTP/2 does
// (the origin saw HTTP/2.0, resp.Proto and ConnInfo say so); forward mode,
// Upgrade requests, an HTTP/1.1-only origin and a Transport without the
// switches stay HTTP/1.1.
func TestHTTP2Modes(t *testing.T) {
	w := newH2World(t, nil)
	h2 := protoSeen{200, "HTTP/2.0", "HTTP/2.0", "HTTP/2.0", "h2", proxyconfig.Direct}
	h1 := protoSeen{200, "HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "http/1.1", proxyconfig.Direct}
	tunnel := func(p protoSeen) protoSeen { p.Mode = proxyconfig.Tunnel; return p }
	forward := func(p protoSeen) protoSeen { p.Mode, p.ALPN = proxyconfig.Forward, ""; return p }
	plain := func(p protoSeen) protoSeen { p.ALPN = ""; return p }
	socks := w.socks.URL()
	prior := new(http.Protocols)
	prior.SetUnencryptedHTTP2(true)
	prior.SetHTTP2(true)
	upgrade := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}
	cases := []struct {
		name   string
		tr     func() *ferry.Transport
		o      *origin
		header http.Header
		want   protoSeen
	}{
		{"direct", func() *ferry.Transport { return w.h2Transport(nil) }, w.h2Origin, nil, h2},
		{"http proxy tunnel", func() *ferry.Transport { return w.h2Transport(w.httpProxy.URL()) }, w.h2Origin, nil, tunnel(h2)},
		{"https proxy, TLS in TLS", func() *ferry.Transport {
			tr := w.h2Transport(w.tlsProxy.URL())
			tr.ProxyTLSClientConfig = &tls.Config{RootCAs: w.ca.Pool(), NextProtos: []string{"h2", "http/1.1"}}
			return tr
		}, w.h2Origin, nil, tunnel(h2)},
		{"socks5h", func() *ferry.Transport { return w.h2Transport(socks) }, w.h2Origin, nil, h2},
		{"h1-only origin", func() *ferry.Transport { return w.h2Transport(nil) }, w.h1Origin, nil, h1},
		{"h1-only origin through tunnel", func() *ferry.Transport { return w.h2Transport(w.httpProxy.URL()) }, w.h1Origin, nil, tunnel(h1)},
		{"forwarding for https", func() *ferry.Transport {
			tr := w.h2Transport(w.tlsProxy.URL())
			tr.ProxyTLSClientConfig = &tls.Config{RootCAs: w.ca.Pool()}
			tr.UseForwardingForHTTPS = true
			return tr
		}, w.h2Origin, nil, forward(h1)},
		{"upgrade request", func() *ferry.Transport { return w.h2Transport(nil) }, w.h2Origin, upgrade, plain(h1)},
		{"zero switches", func() *ferry.Transport {
			return &ferry.Transport{TLSClientConfig: &tls.Config{RootCAs: w.ca.Pool(), NextProtos: []string{"h2", "http/1.1"}}}
		}, w.h2Origin, nil, plain(h1)},
		{"TLSNextProto without h2", func() *ferry.Transport {
			tr := w.h2Transport(nil)
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			return tr
		}, w.h2Origin, nil, plain(h1)},
		{"Protocols HTTP1 only", func() *ferry.Transport {
			tr := w.h2Transport(nil)
			tr.Protocols = new(http.Protocols)
			tr.Protocols.SetHTTP1(true)
			return tr
		}, w.h2Origin, nil, plain(h1)},
		{"h2c prior knowledge", func() *ferry.Transport {
			return &ferry.Transport{Protocols: prior}
		}, w.h2cOrigin, nil, plain(h2)},
		{"h2c prior knowledge over socks", func() *ferry.Transport {
			return &ferry.Transport{Protocols: prior, Proxy: http.ProxyURL(socks)}
		}, w.h2cOrigin, nil, plain(h2)},
		{"h2c never to a forwarding proxy", func() *ferry.Transport {
			return &ferry.Transport{Protocols: prior, Proxy: http.ProxyURL(w.httpProxy.URL())}
		}, w.h2cOrigin, nil, forward(h1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := c.tr()
			defer tr.CloseIdleConnections()
			var got []protoSeen
			for range 2 {
				got = append(got, getProto(t, tr, c.o, c.o.URL+"/p", c.header))
			}
			if diff := cmp.Diff([]protoSeen{c.want, c.want}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestHTTP2DefaultTransportClone: the promise: a migrated clone of
// http.DefaultTransport speaks h2 to an h2 origin; a migrated zero
// http.Transport too (net/http's default), one with a custom TLS config not.
func TestHTTP2DefaultTransportClone(t *testing.T) {
	w := newH2World(t, nil)
	for _, c := range []struct {
		name string
		src  func() *http.Transport
		want string
	}{
		{"DefaultTransport clone", func() *http.Transport { return http.DefaultTransport.(*http.Transport).Clone() }, "HTTP/2.0"},
		{"zero", func() *http.Transport { return &http.Transport{} }, "HTTP/2.0"},
		{"custom TLS config", func() *http.Transport { return &http.Transport{TLSClientConfig: &tls.Config{}} }, "HTTP/1.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := c.src()
			if src.TLSClientConfig == nil {
				src.TLSClientConfig = nil
			}
			tr := ferry.NewFromHTTPTransport(src)
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{}
			}
			tr.TLSClientConfig.RootCAs = w.ca.Pool()
			defer tr.CloseIdleConnections()
			if got := getProto(t, tr, w.h2Origin, w.h2Origin.URL, nil).Origin; got != c.want {
				t.Errorf("origin saw %s, want %s", got, c.want)
			}
		})
	}
}

// TestHTTP2OneConnectManyRequests: N concurrent requests through an http
// proxy's tunnel and through TLS in TLS share one CONNECT and one connection
// to the origin.
func TestHTTP2OneConnectManyRequests(t *testing.T) {
	w := newH2World(t, nil)
	for _, p := range []*proxytest.Proxy{w.httpProxy, w.tlsProxy} {
		t.Run(p.URL().Scheme, func(t *testing.T) {
			p.Reset()
			tr := w.h2Transport(p.URL())
			tr.ProxyTLSClientConfig = &tls.Config{RootCAs: w.ca.Pool()}
			defer tr.CloseIdleConnections()
			before := w.h2Origin.ConnCount()
			const n = 20
			errs := runConcurrently(n, func(i int) error {
				return getOK(tr, fmt.Sprintf("%s/%d", w.h2Origin.URL, i), nil)
			})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			var lines []string
			for _, r := range p.Requests() {
				lines = append(lines, r.Method+" "+r.Target)
			}
			if diff := cmp.Diff([]string{"CONNECT " + mustURL(t, w.h2Origin.URL).Host}, lines); diff != "" {
				t.Errorf("proxy saw (-want +got):\n%s", diff)
			}
			if got := w.h2Origin.ConnCount() - before; got != 1 {
				t.Errorf("origin accepted %d connections, want 1", got)
			}
		})
	}
}

// runConcurrently runs f(0..n-1) at once and returns the errors.
func runConcurrently(n int, f func(i int) error) []error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := f(i); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// getOK GETs rawURL with ctx's proxy headers and wants a 200 over HTTP/2.
func getOK(tr http.RoundTripper, rawURL string, ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	req, err := http.NewRequestWithContext(ctx, "GET", rawURL, nil)
	if err != nil {
		return err
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		return fmt.Errorf("%s: %s %s", rawURL, resp.Proto, resp.Status)
	}
	return nil
}

// TestHTTP2PoolKeys: what net/http gets wrong (golang/go#25620): requests
// with other per-request tunnel headers never share an h2 connection,
// GetProxyConnectHeader is called for every request, and a request whose
// Proxy says direct never rides a tunnel.
func TestHTTP2PoolKeys(t *testing.T) {
	w := newH2World(t, nil)
	var calls atomic.Int32
	tr := w.h2Transport(nil)
	tr.Proxy = func(r *http.Request) (*url.URL, error) {
		if r.URL.Query().Get("direct") != "" {
			return nil, nil
		}
		return w.httpProxy.URL(), nil
	}
	tr.GetProxyConnectHeader = func(ctx context.Context, _ *url.URL, _ string) (http.Header, error) {
		calls.Add(1)
		id, _ := ctx.Value(identityKey{}).(string)
		return http.Header{"X-Identity": {id}}, nil
	}
	defer tr.CloseIdleConnections()
	const n = 12
	errs := runConcurrently(n, func(i int) error {
		ctx := context.WithValue(context.Background(), identityKey{}, fmt.Sprint("id", i%3))
		u := fmt.Sprintf("%s/%d", w.h2Origin.URL, i)
		if i%4 == 0 {
			u += "?direct=1"
		}
		return getOK(tr, u, ctx)
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	ids := map[string]int{}
	for _, r := range w.httpProxy.Requests() {
		if r.Method != "CONNECT" {
			t.Errorf("proxy saw %s", r.RequestLine())
		}
		ids[r.Header.Get("X-Identity")]++
	}
	// i%4 != 0 go through the proxy: identities id0, id1, id2 all occur; one
	// tunnel each (the first dial per key is awaited by the others).
	if diff := cmp.Diff(map[string]int{"id0": 1, "id1": 1, "id2": 1}, ids); diff != "" {
		t.Errorf("CONNECTs per identity (-want +got):\n%s", diff)
	}
	if got := calls.Load(); got != n-n/4 {
		t.Errorf("GetProxyConnectHeader called %d times, want %d (once per proxied request)", got, n-n/4)
	}
	// The direct requests made their own connection: 3 tunnels + 1 direct.
	if got := w.h2Origin.ConnCount(); got != 4 {
		t.Errorf("origin accepted %d connections, want 4", got)
	}
}

type identityKey struct{}

// TestHTTP2MaxConcurrentStreams: 64 callers against a server allowing 8
// streams per connection: with MaxConnsPerHost 1 they queue on one
// connection (never more than 8 at once); without a limit, more connections
// are dialled, none carrying more than 8.
func TestHTTP2MaxConcurrentStreams(t *testing.T) {
	for _, maxConns := range []int{1, 0} {
		t.Run(fmt.Sprint("MaxConnsPerHost=", maxConns), func(t *testing.T) {
			var mu sync.Mutex
			active := map[string]int{}
			maxActive := 0
			release := make(chan struct{})
			stop := make(chan struct{}) // a failing test must not leave handlers blocked
			defer close(stop)
			h := func(rw http.ResponseWriter, r *http.Request) {
				mu.Lock()
				active[r.RemoteAddr]++
				maxActive = max(maxActive, active[r.RemoteAddr])
				mu.Unlock()
				select {
				case <-release:
				case <-stop:
				}
				mu.Lock()
				active[r.RemoteAddr]--
				mu.Unlock()
				io.WriteString(rw, "ok")
			}
			w := newH2World(t, h)
			o := origintest.New(t, origintest.Options{Cert: &w.leaf, HTTP2: true, Handler: h, Configure: func(s *http.Server) {
				s.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 8}
			}})
			tr := w.h2Transport(nil)
			tr.MaxConnsPerHost = maxConns
			defer tr.CloseIdleConnections()
			// Let the connection learn the limit before the crowd arrives.
			close(release)
			if err := getOK(tr, o.URL, nil); err != nil {
				t.Fatal(err)
			}
			release = make(chan struct{})
			done := make(chan []error)
			go func() {
				done <- runConcurrently(64, func(i int) error { return getOK(tr, fmt.Sprintf("%s/%d", o.URL, i), nil) })
			}()
			waitFor(t, func() bool {
				mu.Lock()
				defer mu.Unlock()
				n := 0
				for _, a := range active {
					n += a
				}
				return n == 8 || (maxConns == 0 && n >= 16)
			})
			close(release)
			if errs := <-done; len(errs) > 0 {
				t.Fatal(errs)
			}
			if maxActive > 8 {
				t.Errorf("server saw %d streams at once on one connection, limit 8", maxActive)
			}
			conns := o.ConnCount()
			if maxConns == 1 && conns != 1 {
				t.Errorf("%d connections with MaxConnsPerHost 1", conns)
			}
			if maxConns == 0 && conns < 2 {
				t.Errorf("%d connections without a limit, want more than one", conns)
			}
		})
	}
}

// TestHTTP2FirstDialCoalesced: callers arriving while the first connection
// to an origin is being set up wait for it instead of dialling their own
// (golang/go#13957).
func TestHTTP2FirstDialCoalesced(t *testing.T) {
	w := newH2World(t, nil)
	var dials atomic.Int32
	tr := w.h2Transport(nil)
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	defer tr.CloseIdleConnections()
	if errs := runConcurrently(32, func(i int) error { return getOK(tr, fmt.Sprintf("%s/%d", w.h2Origin.URL, i), nil) }); len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := dials.Load(); got != 1 {
		t.Errorf("%d dials for 32 concurrent first requests, want 1", got)
	}
	// The engine retires a finished stream on its own goroutine, just after
	// the body's EOF: the connection goes idle a moment later.
	waitFor(t, func() bool { return tr.PoolStats() == ferry.PoolStats{Idle: 1, Open: 1} })
	tr.CloseIdleConnections()
	if diff := cmp.Diff(ferry.PoolStats{}, tr.PoolStats()); diff != "" {
		t.Errorf("pool after CloseIdleConnections (-want +got):\n%s", diff)
	}
}

// TestHTTP2FirstDialH1: when the first connection turns out HTTP/1.1, the
// callers that waited for it dial their own and all succeed.
func TestHTTP2FirstDialH1(t *testing.T) {
	w := newH2World(t, nil)
	tr := w.h2Transport(nil)
	tr.MaxIdleConnsPerHost = 16
	defer tr.CloseIdleConnections()
	errs := runConcurrently(8, func(i int) error {
		resp, err := tr.RoundTrip(mustGet(t, fmt.Sprintf("%s/%d", w.h1Origin.URL, i)))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Proto != "HTTP/1.1" {
			return fmt.Errorf("proto %s", resp.Proto)
		}
		return nil
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if n := len(w.h1Origin.Received()); n != 8 {
		t.Errorf("origin got %d requests, want 8", n)
	}
}

// TestHTTP2ReusedAndIdle: ConnInfo.Reused on the second request; the idle
// limits and IdleConnTimeout-free CloseIdleConnections cover h2 connections.
func TestHTTP2ReusedAndIdle(t *testing.T) {
	w := newH2World(t, nil)
	tr := w.h2Transport(nil)
	defer tr.CloseIdleConnections()
	var reused []bool
	for range 3 {
		resp, err := tr.RoundTrip(mustGet(t, w.h2Origin.URL))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		info, _ := ferry.ConnInfoOf(resp)
		reused = append(reused, info.Reused)
	}
	if diff := cmp.Diff([]bool{false, true, true}, reused); diff != "" {
		t.Errorf("Reused (-want +got):\n%s", diff)
	}
	if got := w.h2Origin.ConnCount(); got != 1 {
		t.Errorf("%d connections, want 1", got)
	}
}

// waitFor polls cond for a bounded time and fails the test if it never holds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHTTP2IdleLimits: h2 connections with no stream in flight count as
// idle: MaxIdleConnsPerHost closes the extra ones, IdleConnTimeout the rest.
func TestHTTP2IdleLimits(t *testing.T) {
	w := newH2World(t, nil)
	release := make(chan struct{})
	stop := make(chan struct{}) // a failing test must not leave handlers blocked (the server's Close waits for them)
	defer close(stop)
	var started atomic.Int32
	o := origintest.New(t, origintest.Options{Cert: &w.leaf, HTTP2: true, Handler: func(rw http.ResponseWriter, r *http.Request) {
		started.Add(1)
		select {
		case <-release:
		case <-stop:
		}
	}, Configure: func(s *http.Server) { s.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 1} }})
	tr := w.h2Transport(nil)
	tr.MaxIdleConnsPerHost = 1
	tr.IdleConnTimeout = 300 * time.Millisecond
	defer tr.CloseIdleConnections()
	// One request first, so the connection knows the server's limit of one
	// stream; then three at once need three connections.
	close(release)
	if err := getOK(tr, o.URL, nil); err != nil {
		t.Fatal(err)
	}
	release = make(chan struct{})
	started.Store(0)
	done := make(chan []error)
	go func() { done <- runConcurrently(3, func(int) error { return getOK(tr, o.URL, nil) }) }()
	waitFor(t, func() bool { return started.Load() == 3 })
	if st := tr.PoolStats(); st.Open != 3 || st.Idle != 0 {
		t.Errorf("while 3 streams run: %+v, want 3 open, none idle", st)
	}
	close(release)
	if errs := <-done; len(errs) > 0 {
		t.Fatal(errs)
	}
	waitFor(t, func() bool { return tr.PoolStats() == ferry.PoolStats{Idle: 1, Open: 1} })
	waitFor(t, func() bool { return tr.PoolStats() == ferry.PoolStats{} })
	if n := o.ConnCount(); n != 3 {
		t.Errorf("origin accepted %d connections, want 3", n)
	}
}
