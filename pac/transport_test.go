package pac_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/interop"
	"github.com/ferryhttp/ferry/internal/testcert"
	"github.com/ferryhttp/ferry/pac"
)

// answeringProxy is a forward proxy that answers every request itself with
// the request line it received, without dialling anything.
func answeringProxy(t testing.TB, name string) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					body := name + " saw " + req.Method + " " + req.RequestURI
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
				}
			}()
		}
	}()
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}
}

func deadPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// namedDialer dials the test's names at their loopback addresses and
// refuses any other name: ferry never asks the system resolver.
func namedDialer(names map[string]string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if ip, ok := names[host]; ok {
			host = ip
		} else if net.ParseIP(host) == nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "not a test name", Name: host, IsNotFound: true}}
		}
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort(host, port))
	}
}

// TestTransportWithPAC: a PAC script's list drives ferry: the dead first
// proxy is passed over, the second serves; other names go direct through
// the test's dialer; loopback never asks the script.
func TestTransportWithPAC(t *testing.T) {
	dead := deadPort(t)
	good := answeringProxy(t, "corp-proxy")
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "origin saw "+r.Host)
	}))
	t.Cleanup(origin.Close)
	_, originPort, _ := net.SplitHostPort(strings.TrimPrefix(origin.URL, "http://"))

	src := fmt.Sprintf(`function FindProxyForURL(url, host) {
		if (dnsDomainIs(host, ".corp.test")) return "PROXY %s; PROXY %s";
		return "DIRECT";
	}`, dead, good.Host)
	script := newScript(t, src, pac.Options{})
	tr := &ferry.Transport{
		ProxyList:   script.ProxyList,
		DialContext: namedDialer(map[string]string{"public.test": "127.0.0.1"}),
	}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	cases := []struct {
		target, body, proxy string
		skipped             int
	}{
		{"http://app.corp.test/x?y=1", "corp-proxy saw GET http://app.corp.test/x?y=1", good.Host, 1},
		{"http://public.test:" + originPort + "/", "origin saw public.test:" + originPort, "", 0},
		{origin.URL + "/", "origin saw " + strings.TrimPrefix(origin.URL, "http://"), "", 0},
	}
	for _, c := range cases {
		resp, err := client.Get(c.target)
		if err != nil {
			t.Errorf("%s: %v", c.target, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		info, _ := ferry.ConnInfoOf(resp)
		proxy := ""
		if info.Proxy != nil {
			proxy = info.Proxy.Host
		}
		if string(b) != c.body || proxy != c.proxy || len(info.Skipped) != c.skipped {
			t.Errorf("%s: %q via %q after %d skipped; want %q via %q after %d", c.target, b, proxy, len(info.Skipped), c.body, c.proxy, c.skipped)
		}
	}
}

// TestLoadURL fetches a script over https from a loopback server; plain
// http is refused.
func TestLoadURL(t *testing.T) {
	ca, leaf := testcert.MustLocalhost("pac test CA")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/proxy.pac" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-ns-proxy-autoconfig")
		io.WriteString(w, `function FindProxyForURL(url, host) { return "PROXY from-url:3128"; }`)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	opts := pac.Options{Resolver: &fakeResolver{}, HTTPClient: &http.Client{Transport: &ferry.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}}
	s, err := pac.Load(context.Background(), srv.URL+"/proxy.pac", opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.FindProxy(context.Background(), mustURL(t, "http://x.test/")); err != nil || got != "PROXY from-url:3128" {
		t.Errorf("FindProxy = %q, %v", got, err)
	}
	if _, err := pac.Load(context.Background(), srv.URL+"/missing.pac", opts); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing script: %v", err)
	}
	if _, err := pac.Load(context.Background(), "http://127.0.0.1:1/proxy.pac", opts); err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("http URL: %v, want ErrInsecureURL", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "proxy.pac")
	os.WriteFile(path, []byte(`function FindProxyForURL(u, h) { return "DIRECT"; }`), 0o644)
	if s, err := pac.Load(context.Background(), path, opts); err != nil {
		t.Errorf("file: %v", err)
	} else if got, _ := s.FindProxy(context.Background(), mustURL(t, "http://x.test/")); got != "DIRECT" {
		t.Errorf("file script answered %q", got)
	}
}

// TestPACWithSquid: the script sends *.ferry.test through a dead proxy and
// then real squid, which finds the test's names in a hosts_file of the
// test's own; ferry resolves nothing itself.
func TestPACWithSquid(t *testing.T) {
	interop.Require(t)
	ca, leaf := testcert.MustLocalhost("pac interop CA")
	dir, err := os.MkdirTemp("", "ferry-pac-squid-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 origin.ferry.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := testcert.WritePEM(dir, leaf)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(keyFile, 0o644)
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, ca.CertPEM, 0o644)
	squid := interop.StartSquid(t, interop.SquidOptions{CertFile: certFile, KeyFile: keyFile, CAFile: caFile, HostsFile: hosts})

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "origin saw "+r.Host) })
	plain := httptest.NewServer(h)
	t.Cleanup(plain.Close)
	secure := httptest.NewUnstartedServer(h)
	secure.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	secure.StartTLS()
	t.Cleanup(secure.Close)

	src := fmt.Sprintf(`function FindProxyForURL(url, host) {
		if (dnsDomainIs(host, ".ferry.test")) return "PROXY %s; PROXY %s; DIRECT";
		return "DIRECT";
	}`, deadPort(t), squid.HTTP.Host)
	script := newScript(t, src, pac.Options{})
	tr := &ferry.Transport{
		ProxyList:       script.ProxyList,
		DialContext:     namedDialer(nil), // no names: ferry must not resolve origin.ferry.test
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"},
		ConnectTimeout:  10 * time.Second,
	}
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	// The dead proxy fails the first request over, and is then tried last:
	// the second request goes to squid at once.
	for i, srv := range []*httptest.Server{plain, secure} {
		wantSkipped := 1 - i
		u := mustURL(t, srv.URL)
		target := u.Scheme + "://origin.ferry.test:" + u.Port() + "/pac"
		resp, err := client.Get(target)
		if err != nil {
			t.Errorf("%s: %v", target, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		info, _ := ferry.ConnInfoOf(resp)
		if string(b) != "origin saw origin.ferry.test:"+u.Port() || info.Proxy == nil || info.Proxy.Host != squid.HTTP.Host || len(info.Skipped) != wantSkipped {
			t.Errorf("%s: %q via %v after %d skipped; want the origin via squid after %d", target, b, info.Proxy, len(info.Skipped), wantSkipped)
		}
	}
	if log := squid.AccessLog(); !strings.Contains(log, "origin.ferry.test") {
		t.Errorf("squid's access log does not name origin.ferry.test:\n%s", log)
	}
}
