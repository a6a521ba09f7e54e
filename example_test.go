package ferry_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/internal/testcert"
)

// exampleServers starts what the examples talk to: an http and an https
// origin, an http and an https proxy, all on loopback, and a CA for them.
func exampleServers() (plain, secure *httptest.Server, httpProxy, httpsProxy *proxytest.Proxy, ca *testcert.CA, stop func()) {
	ca, leaf := testcert.MustLocalhost("example CA")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	plain = httptest.NewServer(h)
	secure = httptest.NewUnstartedServer(h)
	secure.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	secure.StartTLS()
	httpProxy, _ = proxytest.New(proxytest.Options{UpstreamTLS: &tls.Config{RootCAs: ca.Pool()}})
	httpsProxy, _ = proxytest.New(proxytest.Options{TLS: &tls.Config{Certificates: []tls.Certificate{leaf}}, UpstreamTLS: &tls.Config{RootCAs: ca.Pool()}})
	return plain, secure, httpProxy, httpsProxy, ca, func() {
		plain.Close()
		secure.Close()
		httpProxy.Close()
		httpsProxy.Close()
	}
}

func show(client *http.Client, target string) {
	resp, err := client.Get(target)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	info, _ := ferry.ConnInfoOf(resp)
	fmt.Printf("%s %s mode=%s verified=%v proxy_verified=%v\n", resp.Status, body, info.Mode, info.IsVerified, info.IsProxyVerified)
}

// The Transport goes where an *http.Transport would: no proxy, an https target.
func Example() {
	_, secure, _, _, ca, stop := exampleServers()
	defer stop()

	client := &http.Client{Transport: &ferry.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	show(client, secure.URL)
	// Output: 200 OK hello mode=direct verified=true proxy_verified=false
}

// An http:// proxy forwards http:// URLs in absolute form and tunnels
// https:// URLs with CONNECT.
func ExampleTransport_httpProxy() {
	plain, secure, httpProxy, _, ca, stop := exampleServers()
	defer stop()

	tr := &ferry.Transport{
		Proxy:           http.ProxyURL(httpProxy.URL()),
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool()},
	}
	client := &http.Client{Transport: tr}
	show(client, plain.URL)
	show(client, secure.URL)
	// Output:
	// 200 OK hello mode=forward verified=false proxy_verified=false
	// 200 OK hello mode=tunnel verified=true proxy_verified=false
}

// An https:// proxy: TLS to the proxy for every request, TLS in TLS for an
// https:// target, and with UseForwardingForHTTPS the proxy talks TLS to the
// target itself.
func ExampleTransport_httpsProxy() {
	plain, secure, _, httpsProxy, ca, stop := exampleServers()
	defer stop()

	tr := &ferry.Transport{
		Proxy:                http.ProxyURL(httpsProxy.URL()),
		TLSClientConfig:      &tls.Config{RootCAs: ca.Pool()}, // the targets
		ProxyTLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, // the proxy
	}
	show(&http.Client{Transport: tr}, plain.URL)
	show(&http.Client{Transport: tr}, secure.URL)

	fwd := tr.Clone()
	fwd.UseForwardingForHTTPS = true
	show(&http.Client{Transport: fwd}, secure.URL)
	// Output:
	// 200 OK hello mode=forward verified=false proxy_verified=true
	// 200 OK hello mode=tunnel verified=true proxy_verified=true
	// 200 OK hello mode=forward verified=false proxy_verified=true
}

// A proxy that refuses the CONNECT: the error says it was the proxy, and
// keeps what the proxy answered.
func ExampleProxyError() {
	_, secure, _, _, ca, stop := exampleServers()
	defer stop()
	refusing, _ := proxytest.New(proxytest.Options{Fault: proxytest.Fault{Kind: proxytest.RefuseConnect, Status: 407, Body: "login first"}})
	defer refusing.Close()

	tr := &ferry.Transport{Proxy: http.ProxyURL(refusing.URL()), TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}
	_, err := (&http.Client{Transport: tr}).Get(secure.URL)
	var pe *ferry.ProxyError
	if errors.As(err, &pe) {
		fmt.Println(pe.StatusCode, string(pe.Body), pe.HasConnectedToProxy)
	}
	// Output: 407 login first true
}

// ConnInfoOf tells whether TLS with the target was verified, so a program
// can refuse to use an answer that came over an unverified connection.
func ExampleConnInfoOf() {
	_, secure, _, _, _, stop := exampleServers()
	defer stop()

	tr := &ferry.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	resp, err := (&http.Client{Transport: tr}).Get(secure.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	if info, ok := ferry.ConnInfoOf(resp); ok && !info.IsVerified {
		fmt.Println("answer came over unverified TLS; not trusting it")
	}
	// Output: answer came over unverified TLS; not trusting it
}

// Per-request proxy headers: on the CONNECT (and the tunnel is not shared
// with requests that carry other headers) or on the forwarded request.
func ExampleWithProxyHeader() {
	plain, _, httpProxy, _, _, stop := exampleServers()
	defer stop()

	tr := &ferry.Transport{Proxy: http.ProxyURL(httpProxy.URL())}
	ctx := ferry.WithProxyHeader(exampleCtx(), http.Header{"X-Request-Id": {"abc"}})
	req, _ := http.NewRequestWithContext(ctx, "GET", plain.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(httpProxy.Requests()[0].Header.Get("X-Request-Id"))
	// Output: abc
}

// Migrating: keep the http.Transport you had, get ferry's semantics.
func ExampleNewFromHTTPTransport() {
	old := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: "proxy.internal:3128"}), MaxIdleConnsPerHost: 8}
	tr := ferry.NewFromHTTPTransport(old)
	fmt.Println(tr.MaxIdleConnsPerHost, tr.Proxy != nil)
	// Output: 8 true
}

func exampleCtx() context.Context { return context.Background() }
