package interop_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhttp/ferry"
)

// countingListener accepts connections on loopback, counts them and closes
// them at once: an entry that must never be reached.
func countingListener(t *testing.T) (*url.URL, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}, &n
}

func closedPortURL(t *testing.T, scheme string) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return &url.URL{Scheme: scheme, Host: ln.Addr().String()}
}

// TestFailoverToSquid: a dead proxy and an https proxy that does not speak
// TLS are passed over; real squid, the third entry, serves the request, in
// forward and tunnel mode.
func TestFailoverToSquid(t *testing.T) {
	e := setup(t)
	notTLS, _ := countingListener(t)
	notTLS.Scheme = "https"
	for _, target := range []string{e.plain.URL, e.secure.URL} {
		t.Run(target[:5], func(t *testing.T) {
			tr := e.transport(nil, false)
			tr.Proxy = nil
			list := []*url.URL{closedPortURL(t, "http"), notTLS, e.squid.HTTP}
			tr.ProxyList = func(*http.Request) ([]*url.URL, error) { return list, nil }
			resp, err := (&http.Client{Transport: tr}).Get(target + "/failover")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			info, _ := ferry.ConnInfoOf(resp)
			if string(b) != "hello /failover" || info.Proxy.String() != e.squid.HTTP.String() || len(info.Skipped) != 2 {
				t.Errorf("got %q via %v after %d skipped; want squid's answer after 2", b, info.Proxy, len(info.Skipped))
			}
			// squid logs a transaction when it ends (a tunnel when it closes):
			// close the kept-alive connection and wait for the line.
			tr.CloseIdleConnections()
			want := "/failover"
			if strings.HasPrefix(target, "https") {
				want = "CONNECT"
			}
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(e.squid.AccessLog(), want) {
				if time.Now().After(deadline) {
					t.Fatalf("squid's access log does not show %q:\n%s", want, e.squid.AccessLog())
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// TestSquidRefusalDoesNotFailOver: squid's 403 to a CONNECT to a forbidden
// port is an answer, not a dead proxy: the next entry is never contacted.
func TestSquidRefusalDoesNotFailOver(t *testing.T) {
	e := setup(t)
	next, accepted := countingListener(t)
	tr := e.transport(nil, false)
	tr.Proxy = nil
	tr.ProxyList = func(*http.Request) ([]*url.URL, error) { return []*url.URL{e.squid.HTTP, next}, nil }
	_, err := (&http.Client{Transport: tr}).Get(fmt.Sprintf("https://127.0.0.1:%d/", e.squid.RefusedPort))
	var pe *ferry.ProxyError
	if !errors.As(err, &pe) || pe.StatusCode != http.StatusForbidden {
		t.Fatalf("err = %v, want squid's 403 as *ferry.ProxyError", err)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the next entry got %d connections, want 0", n)
	}
}
