package conn_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry/conn"
	"github.com/ferryhttp/ferry/internal/origintest"
	"github.com/ferryhttp/ferry/internal/testcert"
	"github.com/ferryhttp/ferry/verify"
)

// silentListener accepts connections and never writes to them (nor reads):
// a TLS peer that never answers the handshake, a proxy that never answers
// CONNECT. With reply set, it writes reply once after reading the first
// request head, then falls silent.
func silentListener(t *testing.T, reply string) string {
	t.Helper()
	return origintest.HoldConns(t, func(c net.Conn) {
		if reply == "" {
			return
		}
		buf := make([]byte, 4096)
		var got []byte
		for !bytes.Contains(got, []byte("\r\n\r\n")) {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			got = append(got, buf[:n]...)
		}
		io.WriteString(c, reply)
	})
}

// blackholeDial is a dialer whose SYN is never answered: it returns when ctx ends.
func blackholeDial(ctx context.Context, network, addr string) (net.Conn, error) {
	<-ctx.Done()
	return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
}

func endpointOf(scheme, addr string) conn.Endpoint {
	host, port, _ := net.SplitHostPort(addr)
	return conn.Endpoint{Scheme: scheme, Host: host, Port: port}
}

// TestConnectTimeoutStages: ConnectTimeout and TLSHandshakeTimeout give a
// *TimeoutError that names the limit and the stage, with and without a proxy
// (inside the *ProxyError when the proxy is the one that did not answer);
// the caller's own deadline gives the context's error instead.
func TestConnectTimeoutStages(t *testing.T) {
	const limit = 150 * time.Millisecond
	type result struct {
		ProxyError bool
		Timeout    bool // errors.As *conn.TimeoutError
		Op, Stage  string
		Setting    string
		Limit      time.Duration
		CtxErr     bool // errors.Is(err, context.DeadlineExceeded)
	}
	connectTO := func(stage string) result {
		return result{Timeout: true, Op: "connect", Stage: stage, Setting: "ConnectTimeout", Limit: limit}
	}
	handshakeTO := result{Timeout: true, Op: "connect", Stage: "TLS handshake", Setting: "TLSHandshakeTimeout", Limit: limit}
	viaProxy := func(r result) result { r.ProxyError = true; return r }
	ctxOnly := result{CtxErr: true}

	const ok200 = "HTTP/1.1 200 Connection established\r\n\r\n"
	cases := []struct {
		name       string
		first      string // scheme of the first endpoint
		proxy      string // "", "http", "https", "socks5"
		tunnel     string // scheme of the tunnel target; "" none
		reply      string // what the silent listener says first
		blackhole  bool
		setting    string // "ConnectTimeout", "TLSHandshakeTimeout" or "ctx"
		want       result
		wantNoProx bool
	}{
		{name: "direct/dial", first: "http", blackhole: true, setting: "ConnectTimeout", want: connectTO("dial")},
		{name: "direct/tls", first: "https", setting: "ConnectTimeout", want: connectTO("TLS handshake")},
		{name: "direct/tls-handshake-timeout", first: "https", setting: "TLSHandshakeTimeout", want: handshakeTO},
		{name: "direct/dial/ctx", first: "http", blackhole: true, setting: "ctx", want: ctxOnly},
		{name: "direct/tls/ctx", first: "https", setting: "ctx", want: ctxOnly},

		{name: "proxy/dial", first: "http", proxy: "http", tunnel: "https", blackhole: true, setting: "ConnectTimeout", want: viaProxy(connectTO("dial"))},
		{name: "proxy/connect", first: "http", proxy: "http", tunnel: "https", setting: "ConnectTimeout", want: viaProxy(connectTO("CONNECT"))},
		{name: "proxy/connect/ctx", first: "http", proxy: "http", tunnel: "https", setting: "ctx", want: viaProxy(ctxOnly)},
		{name: "proxy/target-tls", first: "http", proxy: "http", tunnel: "https", reply: ok200, setting: "ConnectTimeout", want: connectTO("TLS handshake")},
		{name: "proxy/target-tls-handshake-timeout", first: "http", proxy: "http", tunnel: "https", reply: ok200, setting: "TLSHandshakeTimeout", want: handshakeTO},
		{name: "proxy/target-tls/ctx", first: "http", proxy: "http", tunnel: "https", reply: ok200, setting: "ctx", want: ctxOnly},
		{name: "httpsproxy/tls", first: "https", proxy: "https", tunnel: "https", setting: "ConnectTimeout", want: viaProxy(connectTO("TLS handshake"))},
		{name: "httpsproxy/tls-handshake-timeout", first: "https", proxy: "https", tunnel: "https", setting: "TLSHandshakeTimeout", want: viaProxy(handshakeTO)},
		{name: "httpsproxy/tls/ctx", first: "https", proxy: "https", tunnel: "https", setting: "ctx", want: viaProxy(ctxOnly)},
		{name: "socks/negotiation", first: "http", proxy: "socks5", tunnel: "http", setting: "ConnectTimeout", want: viaProxy(connectTO("SOCKS"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := silentListener(t, tc.reply)
			opts := &conn.Options{}
			if tc.blackhole {
				opts.DialContext = blackholeDial
			}
			ctx := context.Background()
			switch tc.setting {
			case "ConnectTimeout":
				opts.ConnectTimeout = limit
			case "TLSHandshakeTimeout":
				opts.TLSHandshakeTimeout = limit
			case "ctx":
				// A generous ConnectTimeout must not turn the caller's
				// deadline into a TimeoutError.
				opts.ConnectTimeout, opts.TLSHandshakeTimeout = time.Minute, time.Minute
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, limit)
				defer cancel()
			}
			// Backstop: a bug must not hang the test.
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()

			var proxy *url.URL
			if tc.proxy != "" {
				proxy = &url.URL{Scheme: tc.proxy, Host: addr}
			}
			c := conn.New(endpointOf(tc.first, addr), proxy, opts)
			if tc.tunnel != "" {
				c.SetTunnel("127.0.0.1", "9", tc.tunnel, nil)
			}
			err := c.Connect(ctx)
			if err == nil {
				t.Fatal("Connect succeeded")
			}
			var got result
			var pe *conn.ProxyError
			got.ProxyError = errors.As(err, &pe)
			var te *conn.TimeoutError
			if errors.As(err, &te) {
				got.Timeout, got.Op, got.Stage, got.Setting, got.Limit = true, te.Op, te.Stage, te.Setting, te.Limit
				if !strings.Contains(err.Error(), te.Setting) || !strings.Contains(err.Error(), te.Stage) {
					t.Errorf("message %q names neither the limit nor the stage", err)
				}
			}
			// Whether a TimeoutError also matches context.DeadlineExceeded
			// depends on the step that failed; only the caller's own deadline
			// must.
			got.CtxErr = !got.Timeout && errors.Is(err, context.DeadlineExceeded)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("err = %v\n(-want +got):\n%s", err, diff)
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("err = %v: not a net.Error with Timeout()", err)
			}
		})
	}
}

// TestConnectHookSeesEveryReply: OnProxyConnectResponse gets every CONNECT
// reply, refusals included, before the status is checked (net/http's
// order); a refusal is still a *ProxyError afterwards, and an error from the
// hook is what the caller gets.
func TestConnectHookSeesEveryReply(t *testing.T) {
	hookErr := errors.New("hook says no")
	cases := []struct {
		name, reply string
		hookFails   bool
		wantStatus  int    // the status the hook saw
		wantBody    string // what the hook read from the reply's body
		wantRefused bool   // errors.Is(err, ErrConnectRefused)
		wantHookErr bool
		wantPEBody  string
	}{
		{name: "200", reply: "HTTP/1.1 200 OK\r\n\r\n", wantStatus: 200},
		{name: "407", reply: "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 5\r\n\r\nlogin",
			wantStatus: 407, wantBody: "login", wantRefused: true, wantPEBody: "login"},
		{name: "403", reply: "HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\nno way", wantStatus: 403, wantBody: "no way", wantRefused: true, wantPEBody: "no way"},
		{name: "407-hook-error", reply: "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 5\r\n\r\nlogin", hookFails: true,
			wantStatus: 407, wantBody: "login", wantHookErr: true, wantPEBody: "login"},
		{name: "200-hook-error", reply: "HTTP/1.1 200 OK\r\n\r\n", hookFails: true, wantStatus: 200, wantHookErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := fakeProxy(t, tc.reply)
			var seen []int
			var body string
			opts := &conn.Options{OnProxyConnectResponse: func(ctx context.Context, p *url.URL, req *http.Request, res *http.Response) error {
				seen = append(seen, res.StatusCode)
				if req.Method != http.MethodConnect || p.Host != addr {
					t.Errorf("hook got %s for proxy %v", req.Method, p)
				}
				if res.StatusCode != 200 {
					b, _ := io.ReadAll(res.Body)
					body = string(b)
				}
				if tc.hookFails {
					return hookErr
				}
				return nil
			}}
			c := conn.New(endpointOf("http", addr), &url.URL{Scheme: "http", Host: addr}, opts)
			c.SetTunnel("example.com", "443", "http", nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := c.Connect(ctx)
			defer c.Close()
			if diff := cmp.Diff([]int{tc.wantStatus}, seen); diff != "" {
				t.Errorf("statuses the hook saw (-want +got):\n%s", diff)
			}
			if body != tc.wantBody {
				t.Errorf("hook read body %q, want %q", body, tc.wantBody)
			}
			if got := errors.Is(err, conn.ErrConnectRefused); got != tc.wantRefused {
				t.Errorf("err = %v; ErrConnectRefused: %v, want %v", err, got, tc.wantRefused)
			}
			if got := errors.Is(err, hookErr); got != tc.wantHookErr {
				t.Errorf("err = %v; hook error: %v, want %v", err, got, tc.wantHookErr)
			}
			wantErr := tc.wantRefused || tc.wantHookErr
			if (err != nil) != wantErr {
				t.Fatalf("err = %v, want error: %v", err, wantErr)
			}
			if err != nil {
				var pe *conn.ProxyError
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v (%T), want *ProxyError", err, err)
				}
				if tc.wantStatus != 200 && (pe.StatusCode != tc.wantStatus || string(pe.Body) != tc.wantPEBody) {
					t.Errorf("ProxyError status %d body %q, want %d %q", pe.StatusCode, pe.Body, tc.wantStatus, tc.wantPEBody)
				}
			}
		})
	}
}

// TestProxyErrorRedactsPassword: ProxyError.Proxy never holds the password,
// but keeps what tells proxies apart.
func TestProxyErrorRedactsPassword(t *testing.T) {
	cases := []struct {
		name  string
		reply string // "" : nothing listens (dial failure)
	}{
		{name: "refused-connect", reply: "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"},
		{name: "dial", reply: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := "127.0.0.1:1" // nothing listens on port 1
			if tc.reply != "" {
				addr, _ = fakeProxy(t, tc.reply)
			}
			proxy := &url.URL{Scheme: "http", User: url.UserPassword("alice", "s3cret"), Host: addr}
			c := conn.New(endpointOf("http", addr), proxy, &conn.Options{})
			c.SetTunnel("example.com", "443", "https", nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := c.Connect(ctx)
			var pe *conn.ProxyError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *ProxyError", err, err)
			}
			want := "http://alice:xxxxx@" + addr
			if got := pe.Proxy.String(); got != want {
				t.Errorf("ProxyError.Proxy = %q, want %q", got, want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("message leaks the password: %v", err)
			}
			if p, _ := proxy.User.Password(); p != "s3cret" {
				t.Error("the caller's URL was modified")
			}
		})
	}
}

// TestClosedWithoutAnswerIsEOF: a server that closes the connection without
// answering gives io.EOF, as net/http does.
func TestClosedWithoutAnswerIsEOF(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 4096)
				c.Read(buf)
				c.Close()
			}()
		}
	}()
	c := conn.New(endpointOf("http", ln.Addr().String()), nil, &conn.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Request(ctx, mustReq(ln), conn.RequestOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetResponse(ctx)
	if !errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want io.EOF", err)
	}
}

// TestReleaseDropsRequest: once a request is finished and its connection
// released, the Conn holds nothing of it: the body the caller handed over
// (and the buffer GetBody would replay) can be collected while the
// connection stays open for reuse.
func TestReleaseDropsRequest(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	c := conn.New(endpointOf("http", ln.Addr().String()), nil, &conn.Options{})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	collected := make(chan struct{})
	func() {
		payload := make([]byte, 1<<20)
		runtime.AddCleanup(&payload[0], func(ch chan struct{}) { close(ch) }, collected)
		req, _ := http.NewRequestWithContext(context.WithValue(ctx, ctxKey{}, payload), "PUT", "http://"+ln.Addr().String()+"/", bytes.NewReader(payload))
		req.Header.Set("X-Held", "yes")
		err := c.Request(ctx, req, conn.RequestOptions{Header: http.Header{"X-Extra": {"1"}}})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.GetResponse(ctx)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		if !c.Release() {
			t.Fatal("not reusable")
		}
	}()
	if !waitCollected(collected) {
		t.Fatal("the request's body is still reachable from the idle Conn")
	}
	if !c.Connected() {
		t.Fatal("the connection was closed")
	}
}

type ctxKey struct{}

// waitCollected runs the GC until the cleanup closes ch, for a bounded time.
func waitCollected(ch chan struct{}) bool {
	for range 100 {
		runtime.GC()
		select {
		case <-ch:
			return true
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

// TestVerifiedChains: the TLS state of a connection verified by a policy
// holds the chains that were verified, for the target and for the proxy,
// since crypto/tls verifies nothing itself under a policy's config.
func TestVerifiedChains(t *testing.T) {
	ca, leaf := testcert.MustLocalhost("ferry conn test CA")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{leaf}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.(*tls.Conn).Handshake()
				io.Copy(io.Discard, c)
			}()
		}
	}()
	cases := []struct {
		name       string
		policy     verify.Policy
		wantChains bool
	}{
		{name: "chain", wantChains: true},
		{name: "assert-hostname", policy: verify.Policy{AssertHostname: "localhost"}, wantChains: true},
		// A pin replaces the chain check: there is no verified chain to show.
		{name: "pinned", policy: verify.Policy{Fingerprint: verify.FingerprintOf(leaf.Leaf)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calledWith := -1
			base := &tls.Config{RootCAs: ca.Pool(), VerifyConnection: func(cs tls.ConnectionState) error {
				calledWith = len(cs.VerifiedChains)
				return nil
			}}
			for _, asProxy := range []bool{false, true} {
				opts := &conn.Options{TLSConfig: base, OriginVerify: tc.policy, ProxyTLSConfig: base, ProxyVerify: tc.policy}
				var proxy *url.URL
				if asProxy {
					proxy = &url.URL{Scheme: "https", Host: ln.Addr().String()}
				}
				c := conn.New(endpointOf("https", ln.Addr().String()), proxy, opts)
				if err := c.Connect(context.Background()); err != nil {
					t.Fatal(err)
				}
				st := c.TLS()
				if asProxy {
					st = c.ProxyTLS()
				}
				if got := len(st.VerifiedChains) > 0; got != tc.wantChains {
					t.Errorf("proxy=%v: VerifiedChains %d, want some: %v", asProxy, len(st.VerifiedChains), tc.wantChains)
				}
				if len(st.VerifiedChains) > 0 && !st.VerifiedChains[0][0].Equal(st.PeerCertificates[0]) {
					t.Errorf("proxy=%v: the verified chain does not start with the peer's leaf", asProxy)
				}
				if calledWith != len(st.VerifiedChains) {
					t.Errorf("proxy=%v: the caller's VerifyConnection saw %d chains, the state has %d", asProxy, calledWith, len(st.VerifiedChains))
				}
				c.Close()
			}
		})
	}
}
