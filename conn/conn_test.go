package conn_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry/conn"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// fakeProxy accepts one connection, reads the CONNECT, records its request
// line and Host, and answers reply; then it echoes what it gets.
func fakeProxy(t *testing.T, reply string) (addr string, got chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got = make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- req.Method + " " + req.RequestURI + " Host=" + req.Host + " Auth=" + req.Header.Get("Proxy-Authorization")
		io.WriteString(c, reply)
		io.Copy(c, br)
	}()
	return ln.Addr().String(), got
}

func proxyConn(t *testing.T, addr string) *conn.Conn {
	host, port, _ := net.SplitHostPort(addr)
	return conn.New(conn.Endpoint{Scheme: "http", Host: host, Port: port}, &url.URL{Scheme: "http", Host: addr}, &conn.Options{})
}

// TestTunnelLifecycle: SetTunnel, Connect (CONNECT with an explicit port,
// IPv6 bracketed once), bytes sent right after the reply are not lost, Close,
// and Connect again.
func TestTunnelLifecycle(t *testing.T) {
	cases := []struct {
		host, port string
		want       string
	}{
		{"example.com", "443", "CONNECT example.com:443 Host=example.com:443 Auth=Basic x"},
		{"::1", "8443", "CONNECT [::1]:8443 Host=[::1]:8443 Auth=Basic x"},
	}
	for _, tc := range cases {
		addr, got := fakeProxy(t, "HTTP/1.1 200 Connection established\r\n\r\nEARLY")
		c := proxyConn(t, addr)
		c.SetTunnel(tc.host, tc.port, "http", http.Header{"Proxy-Authorization": {"Basic x"}})
		if err := c.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		if line := <-got; line != tc.want {
			t.Errorf("proxy got %q, want %q", line, tc.want)
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c.NetConn(), buf); err != nil || string(buf) != "EARLY" {
			t.Errorf("bytes after the CONNECT reply: %q, %v", buf, err)
		}
		if !c.HasConnectedToProxy() || !c.Connected() {
			t.Error("state after Connect")
		}
		c.Close()
		if c.Connected() || c.HasConnectedToProxy() {
			t.Error("state after Close")
		}
	}
}

// TestConnectReplies: every CONNECT reply that is not 2xx, or not HTTP, is a
// *ProxyError that keeps what the proxy said.
func TestConnectReplies(t *testing.T) {
	cases := []struct {
		name, reply string
		wantOK      bool
		wantStatus  int
		wantBody    string
	}{
		{name: "200", reply: "HTTP/1.1 200 OK\r\n\r\n", wantOK: true},
		{name: "204-any-2xx", reply: "HTTP/1.1 204 No Content\r\n\r\n", wantOK: true},
		{name: "http10-200", reply: "HTTP/1.0 200 Connection established\r\n\r\n", wantOK: true},
		{name: "407", reply: "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 5\r\n\r\nlogin", wantStatus: 407, wantBody: "login"},
		{name: "403-no-length", reply: "HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\nno way", wantStatus: 403, wantBody: "no way"},
		{name: "garbage", reply: "hello there\r\n\r\n"},
		{name: "truncated", reply: "HTTP/1.1 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := fakeProxy(t, tc.reply)
			c := proxyConn(t, addr)
			c.SetTunnel("example.com", "443", "http", nil)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := c.Connect(ctx)
			if tc.wantOK {
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				return
			}
			var pe *conn.ProxyError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *ProxyError", err, err)
			}
			got := struct {
				Status int
				Body   string
				Conn   bool
			}{pe.StatusCode, string(pe.Body), pe.HasConnectedToProxy}
			want := struct {
				Status int
				Body   string
				Conn   bool
			}{tc.wantStatus, tc.wantBody, true}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if tc.wantStatus != 0 && !errors.Is(err, conn.ErrConnectRefused) {
				t.Errorf("err = %v, want ErrConnectRefused", err)
			}
		})
	}
}

// TestTunnelTargetInjection: a tunnel host with CR/LF is refused before
// anything reaches the proxy.
func TestTunnelTargetInjection(t *testing.T) {
	addr, got := fakeProxy(t, "HTTP/1.1 200 OK\r\n\r\n")
	c := proxyConn(t, addr)
	c.SetTunnel("evil.test:443 HTTP/1.1\r\nX-Injected: 1\r\n\r\nGET", "443", "http", nil)
	err := c.Connect(context.Background())
	if !errors.Is(err, proxyconfig.ErrInvalidTarget) {
		t.Fatalf("err = %v, want ErrInvalidTarget", err)
	}
	select {
	case line := <-got:
		t.Errorf("proxy received %q", line)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestEndlessConnectReply: a proxy that streams header lines forever is cut
// off at MaxResponseHeaderBytes.
func TestEndlessConnectReply(t *testing.T) {
	addr, _ := fakeProxy(t, "HTTP/1.1 200 OK\r\n"+strings.Repeat("X-Filler: aaaaaaaaaaaaaaaaaaaa\r\n", 10000))
	host, port, _ := net.SplitHostPort(addr)
	c := conn.New(conn.Endpoint{Scheme: "http", Host: host, Port: port}, &url.URL{Scheme: "http", Host: addr}, &conn.Options{MaxResponseHeaderBytes: 4096})
	c.SetTunnel("example.com", "443", "http", nil)
	if err := c.Connect(context.Background()); !errors.Is(err, conn.ErrResponseHeaderTooLarge) {
		t.Fatalf("err = %v, want ErrResponseHeaderTooLarge", err)
	}
}

// TestRequestResponseReconnect: the urllib3 lifecycle on a plain origin:
// Connect, Request, GetResponse, Release, Close, Connect again.
func TestRequestResponseReconnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "served "+r.URL.Path) }))
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	c := conn.New(conn.Endpoint{Scheme: "http", Host: host, Port: port}, nil, &conn.Options{ReadTimeout: 2 * time.Second})
	var got []string
	for round := 0; round < 2; round++ {
		if err := c.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/r", nil)
			if err := c.Request(context.Background(), req, conn.RequestOptions{}); err != nil {
				t.Fatal(err)
			}
			resp, err := c.GetResponse(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			got = append(got, string(b))
			if !c.Release() {
				t.Fatal("not reusable after a complete response")
			}
		}
		c.Close()
		if err := c.Request(context.Background(), mustReq(ln), conn.RequestOptions{}); !errors.Is(err, conn.ErrNotConnected) {
			t.Errorf("Request after Close: %v", err)
		}
	}
	if diff := cmp.Diff([]string{"served /r", "served /r", "served /r", "served /r"}, got); diff != "" {
		t.Error(diff)
	}
}

func mustReq(ln net.Listener) *http.Request {
	r, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/", nil)
	return r
}

// FuzzConnectReply feeds arbitrary bytes as a proxy's CONNECT reply: Connect
// never panics or hangs, and every failure is a *ProxyError.
func FuzzConnectReply(f *testing.F) {
	for _, s := range []string{"HTTP/1.1 200 OK\r\n\r\n", "HTTP/1.1 407 x\r\nContent-Length: 3\r\n\r\nabc", "HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "\r\n\r\n", "HTTP/9.9 999 ?\r\n\r\n", "HTTP/1.1 302 Found\r\nLocation: x\r\n\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		client, server := net.Pipe()
		defer client.Close()
		go func() {
			defer server.Close()
			br := bufio.NewReader(server)
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			server.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(server, reply)
		}()
		c := conn.New(conn.Endpoint{Scheme: "http", Host: "proxy", Port: "1"}, &url.URL{Scheme: "http", Host: "proxy:1"},
			&conn.Options{MaxResponseHeaderBytes: 8192, DialContext: func(context.Context, string, string) (net.Conn, error) { return client, nil }})
		c.SetTunnel("example.com", "443", "http", nil)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err := c.Connect(ctx)
		var pe *conn.ProxyError
		if err != nil && !errors.As(err, &pe) {
			t.Fatalf("reply %q: err = %v (%T), want *ProxyError", reply, err, err)
		}
		c.Close()
	})
}
