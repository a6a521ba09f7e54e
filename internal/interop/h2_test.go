package interop_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/conn"
	"github.com/ferryhttp/ferry/internal/interop"
	"github.com/ferryhttp/ferry/internal/testcert"
	"github.com/ferryhttp/ferry/proxyconfig"
)

type h2env struct {
	*env
	certFile, keyFile string
}

func setupH2(t *testing.T) *h2env {
	t.Helper()
	interop.RequireHTTP2Servers(t)
	e := setup(t)
	leaf, err := e.ca.LocalhostLeaf()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile, err := testcert.WritePEM(dir, leaf)
	if err != nil {
		t.Fatal(err)
	}
	return &h2env{env: e, certFile: certFile, keyFile: keyFile}
}

func (e *h2env) h2Transport(proxy *url.URL) *ferry.Transport {
	tr := e.transport(proxy, false)
	tr.ForceAttemptHTTP2 = true
	if proxy == nil {
		tr.Proxy = nil
	}
	return tr
}

func get(ctx context.Context, tr http.RoundTripper, rawURL string) (string, ferry.ConnInfo, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", rawURL, nil)
	if err != nil {
		return "", ferry.ConnInfo{}, err
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return "", ferry.ConnInfo{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		err = fmt.Errorf("reading the body: %w", err)
	}
	info, _ := ferry.ConnInfoOf(resp)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("%s: %s", rawURL, resp.Status)
	}
	return string(b), info, err
}

func concurrently(n int, f func(i int) error) []error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(i); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}

// TestNginxHTTP2Rows: every row that should speak h2 does with a real
// nginx ($server_protocol says HTTP/2.0): direct, through squid's http and
// https ports (TLS in TLS) and through tinyproxy; an HTTP/1.1-only nginx
// port gets HTTP/1.1; squid's forwarding stays HTTP/1.1.
func TestNginxHTTP2Rows(t *testing.T) {
	e := setupH2(t)
	n := interop.StartNginx(t, interop.NginxOptions{CertFile: e.certFile, KeyFile: e.keyFile})
	type row struct {
		Body, Proto, ALPN string
		Mode              proxyconfig.Mode
	}
	prior := new(http.Protocols)
	prior.SetUnencryptedHTTP2(true)
	cases := []struct {
		name   string
		proxy  *url.URL
		target *url.URL
		tr     func(*ferry.Transport)
		want   row
	}{
		{"direct", nil, n.H2, nil, row{"HTTP/2.0 /r\n", "HTTP/2.0", "h2", proxyconfig.Direct}},
		{"squid http port", e.squid.HTTP, n.H2, nil, row{"HTTP/2.0 /r\n", "HTTP/2.0", "h2", proxyconfig.Tunnel}},
		{"squid https port", e.squid.HTTPS, n.H2, nil, row{"HTTP/2.0 /r\n", "HTTP/2.0", "h2", proxyconfig.Tunnel}},
		{"tinyproxy", e.tiny.URL, n.H2, nil, row{"HTTP/2.0 /r\n", "HTTP/2.0", "h2", proxyconfig.Tunnel}},
		{"h1-only port", nil, n.H1, nil, row{"HTTP/1.1 /r\n", "HTTP/1.1", "http/1.1", proxyconfig.Direct}},
		{"h1-only port through squid", e.squid.HTTP, n.H1, nil, row{"HTTP/1.1 /r\n", "HTTP/1.1", "http/1.1", proxyconfig.Tunnel}},
		{"squid forwarding for https", e.squid.HTTPS, n.H2, func(tr *ferry.Transport) { tr.UseForwardingForHTTPS = true },
			row{"HTTP/1.1 /r\n", "HTTP/1.1", "", proxyconfig.Forward}},
		{"h2c prior knowledge", nil, n.H2C, func(tr *ferry.Transport) { tr.Protocols = prior },
			row{"HTTP/2.0 /r\n", "HTTP/2.0", "", proxyconfig.Direct}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := e.h2Transport(c.proxy)
			if c.tr != nil {
				c.tr(tr)
			}
			defer tr.CloseIdleConnections()
			body, info, err := get(t.Context(), tr, c.target.String()+"/r")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, row{body, info.Proto, info.ALPN, info.Mode}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestSquidOneConnectForManyStreams: 24 concurrent requests through each of
// squid's ports show up in its access log as one CONNECT.
func TestSquidOneConnectForManyStreams(t *testing.T) {
	e := setupH2(t)
	n := interop.StartNginx(t, interop.NginxOptions{CertFile: e.certFile, KeyFile: e.keyFile})
	for _, p := range []*url.URL{e.squid.HTTP, e.squid.HTTPS} {
		t.Run(p.Scheme, func(t *testing.T) {
			before := strings.Count(e.squid.AccessLog(), " CONNECT ")
			tr := e.h2Transport(p)
			errs := concurrently(24, func(i int) error {
				body, info, err := get(context.Background(), tr, fmt.Sprintf("%s/%d", n.H2, i))
				if err == nil && (info.Proto != "HTTP/2.0" || body != fmt.Sprintf("HTTP/2.0 /%d\n", i)) {
					err = fmt.Errorf("%d: %s %q", i, info.Proto, body)
				}
				return err
			})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			// squid logs a CONNECT when the tunnel closes.
			tr.CloseIdleConnections()
			var got int
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				if got = strings.Count(e.squid.AccessLog(), " CONNECT ") - before; got >= 1 {
					break
				}
			}
			time.Sleep(200 * time.Millisecond)
			if got = strings.Count(e.squid.AccessLog(), " CONNECT ") - before; got != 1 {
				t.Errorf("squid logged %d CONNECTs for 24 requests, want 1:\n%s", got, e.squid.AccessLog())
			}
		})
	}
}

// connections counts the distinct connections in nginx's access log lines
// that end with suffix.
func connections(log string) int {
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			seen[f[0]] = true
		}
	}
	return len(seen)
}

// TestNginxMaxConcurrentStreams: http2_max_concurrent_streams 8 and 64
// concurrent callers through squid's tunnel: all succeed, on one connection
// with MaxConnsPerHost 1.
func TestNginxMaxConcurrentStreams(t *testing.T) {
	e := setupH2(t)
	n := interop.StartNginx(t, interop.NginxOptions{CertFile: e.certFile, KeyFile: e.keyFile, MaxConcurrentStreams: 8})
	tr := e.h2Transport(e.squid.HTTP)
	tr.MaxConnsPerHost = 1
	defer tr.CloseIdleConnections()
	if errs := concurrently(64, func(i int) error {
		_, info, err := get(context.Background(), tr, fmt.Sprintf("%s/%d", n.H2, i))
		if err == nil && info.Proto != "HTTP/2.0" {
			err = fmt.Errorf("%d over %s", i, info.Proto)
		}
		return err
	}); len(errs) > 0 {
		t.Fatalf("%d failed: %v", len(errs), errs)
	}
	if c := connections(n.AccessLog()); c != 1 {
		t.Errorf("nginx saw %d connections, want 1", c)
	}
}

// TestNginxKeepaliveRequestsGoAway: keepalive_requests 5 makes nginx send
// GOAWAY after 5 requests per connection and close it; 60 requests each way
// all succeed: directly 20 at a time (the streams the GOAWAY leaves out go
// again), through squid 4 at a time. Behind squid, many streams left out
// make the engine write RST_STREAMs into a tunnel nginx already closed;
// squid then resets the connection to us, and the kernel drops what nginx
// sent last (answered requests lost, whatever the client does), so that
// row keeps the left-out streams few.
func TestNginxKeepaliveRequestsGoAway(t *testing.T) {
	e := setupH2(t)
	n := interop.StartNginx(t, interop.NginxOptions{CertFile: e.certFile, KeyFile: e.keyFile, KeepaliveRequests: 5})
	for _, c := range []struct {
		proxy         *url.URL
		rounds, width int
	}{{nil, 3, 20}, {e.squid.HTTP, 15, 4}} {
		t.Run(fmt.Sprint("proxy=", c.proxy), func(t *testing.T) {
			tr := e.h2Transport(c.proxy)
			defer tr.CloseIdleConnections()
			for round := range c.rounds {
				if errs := concurrently(c.width, func(i int) error {
					_, _, err := get(context.Background(), tr, fmt.Sprintf("%s/%d/%d", n.H2, round, i))
					return err
				}); len(errs) > 0 {
					t.Fatalf("round %d: %d failed: %v", round, len(errs), errs)
				}
			}
		})
	}
	if c := connections(n.AccessLog()); c < 120/5 {
		t.Errorf("nginx saw %d connections for 120 requests at 5 per connection", c)
	}
}

// TestNginxEarly413OverH2: client_max_body_size 1k: an upload of a known
// length gets nginx's early 413 over h2 (RST_STREAM NO_ERROR) with WriteErr
// set; one of unknown length gets the answer nginx gives without reading;
// the connection keeps serving.
func TestNginxEarly413OverH2(t *testing.T) {
	e := setupH2(t)
	n := interop.StartNginx(t, interop.NginxOptions{CertFile: e.certFile, KeyFile: e.keyFile, ClientMaxBodySize: "1k"})
	for _, p := range []*url.URL{nil, e.squid.HTTP} {
		t.Run(fmt.Sprint("proxy=", p), func(t *testing.T) {
			tr := e.h2Transport(p)
			defer tr.CloseIdleConnections()
			for _, body := range []struct {
				name   string
				r      func() io.Reader
				status int
			}{
				{"known length", func() io.Reader { return bytes.NewReader(make([]byte, 4<<20)) }, 413},
				// Without a length nginx cannot refuse by the header; its
				// "return 200" answers without reading, and resets the stream.
				{"unknown length", func() io.Reader { return io.MultiReader(bytes.NewReader(make([]byte, 4<<20))) }, 200},
			} {
				req, _ := http.NewRequestWithContext(t.Context(), "POST", n.H2.String()+"/upload", body.r())
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatalf("%s: %v", body.name, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				info, _ := ferry.ConnInfoOf(resp)
				if resp.StatusCode != body.status || info.Proto != "HTTP/2.0" || !errors.Is(info.WriteErr, conn.ErrEarlyResponse) {
					t.Errorf("%s: %s over %s, WriteErr %v; want %d over HTTP/2.0 with ErrEarlyResponse", body.name, resp.Status, info.Proto, info.WriteErr, body.status)
				}
				_, info, err = get(t.Context(), tr, n.H2.String()+"/after")
				if err != nil || !info.Reused {
					t.Errorf("%s: next request: %v, reused %v (want the same connection)", body.name, err, info.Reused)
				}
			}
		})
	}
}

// TestNghttpd: nghttp2's own server, h2 only, at most 8 streams: 32
// concurrent requests directly and through squid, all over HTTP/2.
func TestNghttpd(t *testing.T) {
	e := setupH2(t)
	s := interop.StartNghttpd(t, e.certFile, e.keyFile, 8)
	if err := os.WriteFile(filepath.Join(s.Dir, "index.html"), []byte("from nghttpd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*url.URL{nil, e.squid.HTTP, e.squid.HTTPS} {
		t.Run(fmt.Sprint("proxy=", p), func(t *testing.T) {
			tr := e.h2Transport(p)
			tr.ProxyTLSClientConfig = &tls.Config{RootCAs: e.ca.Pool()}
			defer tr.CloseIdleConnections()
			if errs := concurrently(32, func(i int) error {
				body, info, err := get(context.Background(), tr, s.URL.String()+"/index.html")
				if err == nil && (info.Proto != "HTTP/2.0" || body != "from nghttpd\n") {
					err = fmt.Errorf("%s %q", info.Proto, body)
				}
				return err
			}); len(errs) > 0 {
				t.Fatal(errs)
			}
		})
	}
}

// TestStunnelTinyproxyHTTP2: an HTTPS proxy of another make than squid's,
// stunnel terminating TLS in front of tinyproxy. ferry does TLS with the
// proxy (verified, never h2 there), CONNECT, then TLS in TLS with nginx,
// which speaks h2; 24 concurrent requests share one tunnel: one connection
// accepted by stunnel, one CONNECT in tinyproxy's log, one connection at
// nginx. A request after them reuses that connection.
func TestStunnelTinyproxyHTTP2(t *testing.T) {
	interop.RequireStunnel(t)
	e := setupH2(t)
	n := interop.StartNginx(t, interop.NginxOptions{CertFile: e.certFile, KeyFile: e.keyFile})
	s := interop.StartStunnel(t, e.certFile, e.keyFile, e.tiny.URL)
	tinyLog := func() string {
		b, _ := os.ReadFile(filepath.Join(e.tiny.Dir, "tinyproxy.log"))
		return string(b)
	}
	tinyConnects := func() int { return strings.Count(tinyLog(), "): CONNECT ") }

	type row struct {
		Body, Proto, ALPN         string
		Mode                      proxyconfig.Mode
		IsVerified, ProxyVerified bool
		ProxyTLS                  bool
		ProxyALPNh2               bool
	}
	check := func(i int, body string, info ferry.ConnInfo) error {
		want := row{fmt.Sprintf("HTTP/2.0 /%d\n", i), "HTTP/2.0", "h2", proxyconfig.Tunnel, true, true, true, false}
		got := row{body, info.Proto, info.ALPN, info.Mode, info.IsVerified, info.IsProxyVerified,
			info.ProxyTLS != nil, info.ProxyTLS != nil && info.ProxyTLS.NegotiatedProtocol == "h2"}
		if diff := cmp.Diff(want, got); diff != "" {
			return fmt.Errorf("request %d (-want +got):\n%s", i, diff)
		}
		return nil
	}
	tr := e.h2Transport(s.URL)
	defer tr.CloseIdleConnections()
	const requests = 24
	if errs := concurrently(requests, func(i int) error {
		body, info, err := get(context.Background(), tr, fmt.Sprintf("%s/%d", n.H2, i))
		if err == nil {
			err = check(i, body, info)
		}
		return err
	}); len(errs) > 0 {
		t.Fatalf("%d failed: %v", len(errs), errs)
	}
	body, info, err := get(t.Context(), tr, fmt.Sprintf("%s/%d", n.H2, requests))
	if err == nil {
		err = check(requests, body, info)
	}
	if err != nil || !info.Reused {
		t.Errorf("request after the burst: %v, reused %v (want the same connection)", err, info.Reused)
	}
	// One of stunnel's accepted connections is StartStunnel's readiness probe.
	if got := s.Accepted() - 1; got != 1 {
		t.Errorf("stunnel accepted %d connections for %d requests, want 1:\n%s", got, requests+1, s.Log())
	}
	if got := tinyConnects(); got != 1 {
		t.Errorf("tinyproxy logged %d CONNECTs for %d requests, want 1:\n%s", got, requests+1, tinyLog())
	}
	if got := connections(n.AccessLog()); got != 1 {
		t.Errorf("nginx saw %d connections, want 1:\n%s", got, n.AccessLog())
	}
}
