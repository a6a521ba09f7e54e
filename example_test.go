package ferry_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/verify"
)

// The examples use only the standard library and ferry, so that each can be
// copied into a program of one's own together with the helpers at the end
// of this file: loopback origins from net/http/httptest, a small HTTP proxy
// (forwarding and CONNECT) and a small SOCKS5 server.

// The Transport goes where an *http.Transport would: no proxy, an https target.
func Example() {
	s := startServers()
	defer s.stop()

	client := &http.Client{Transport: &ferry.Transport{TLSClientConfig: &tls.Config{RootCAs: s.roots}}}
	show(client, s.secure.URL)
	// Output: 200 OK hello mode=direct verified=true proxy_verified=false
}

// No proxy: an http:// target goes straight to the target, without TLS,
// and the connection is kept for the next request.
func ExampleTransport_direct() {
	s := startServers()
	defer s.stop()

	client := &http.Client{Transport: &ferry.Transport{}}
	show(client, s.plain.URL)
	resp, err := client.Get(s.plain.URL)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	info, _ := ferry.ConnInfoOf(resp)
	fmt.Println("reused:", info.Reused)
	// Output:
	// 200 OK hello mode=direct verified=false proxy_verified=false
	// reused: true
}

// An http:// proxy forwards http:// URLs in absolute form and tunnels
// https:// URLs with CONNECT.
func ExampleTransport_httpProxy() {
	s := startServers()
	defer s.stop()

	tr := &ferry.Transport{
		Proxy:           http.ProxyURL(mustParse(s.httpProxy.URL)),
		TLSClientConfig: &tls.Config{RootCAs: s.roots},
	}
	client := &http.Client{Transport: tr}
	show(client, s.plain.URL)
	show(client, s.secure.URL)
	for _, line := range s.proxy.requestLines() {
		fmt.Println("proxy got:", line)
	}
	// Output:
	// 200 OK hello mode=forward verified=false proxy_verified=false
	// 200 OK hello mode=tunnel verified=true proxy_verified=false
	// proxy got: GET http://ORIGIN/ HTTP/1.1
	// proxy got: CONNECT ORIGIN HTTP/1.1
}

// An https:// proxy: TLS to the proxy for every request, TLS in TLS for an
// https:// target, and with UseForwardingForHTTPS the proxy talks TLS to the
// target itself.
func ExampleTransport_httpsProxy() {
	s := startServers()
	defer s.stop()

	tr := &ferry.Transport{
		Proxy:                http.ProxyURL(mustParse(s.httpsProxy.URL)),
		TLSClientConfig:      &tls.Config{RootCAs: s.roots}, // the targets
		ProxyTLSClientConfig: &tls.Config{RootCAs: s.roots}, // the proxy
	}
	show(&http.Client{Transport: tr}, s.plain.URL)
	show(&http.Client{Transport: tr}, s.secure.URL)

	fwd := tr.Clone()
	fwd.UseForwardingForHTTPS = true
	show(&http.Client{Transport: fwd}, s.secure.URL)
	// Output:
	// 200 OK hello mode=forward verified=false proxy_verified=true
	// 200 OK hello mode=tunnel verified=true proxy_verified=true
	// 200 OK hello mode=forward verified=false proxy_verified=true
}

// A SOCKS5 proxy: the request goes to the target as without a proxy (mode
// Direct), over a connection the SOCKS server made; TLS with an https://
// target is ferry's. With socks5h:// the proxy resolves host names, with
// socks5:// ferry does.
func ExampleTransport_socks5() {
	s := startServers()
	defer s.stop()

	tr := &ferry.Transport{
		Proxy:           http.ProxyURL(&url.URL{Scheme: "socks5h", Host: s.socks.addr}),
		TLSClientConfig: &tls.Config{RootCAs: s.roots},
	}
	client := &http.Client{Transport: tr}
	show(client, s.plain.URL)
	show(client, s.secure.URL)
	fmt.Println("SOCKS server connected to:", s.socks.connected())
	// Output:
	// 200 OK hello mode=direct verified=false proxy_verified=false
	// 200 OK hello mode=direct verified=true proxy_verified=false
	// SOCKS server connected to: [ORIGIN ORIGIN]
}

// A proxy that refuses the CONNECT: the error says it was the proxy, and
// keeps what the proxy answered.
func ExampleProxyError() {
	s := startServers()
	defer s.stop()

	tr := &ferry.Transport{Proxy: http.ProxyURL(mustParse(s.refusingProxy.URL)), TLSClientConfig: &tls.Config{RootCAs: s.roots}}
	_, err := (&http.Client{Transport: tr}).Get(s.secure.URL)
	var pe *ferry.ProxyError
	if errors.As(err, &pe) {
		fmt.Println(pe.StatusCode, string(pe.Body), pe.HasConnectedToProxy)
	}
	// Output: 407 login first true
}

// Settings that cannot work are refused before anything is dialled: here a
// malformed certificate pin.
func ExampleConfigError() {
	tr := &ferry.Transport{OriginVerify: verify.Policy{Fingerprint: "sha256/9f86d0..."}}
	_, err := (&http.Client{Transport: tr}).Get("https://127.0.0.1:8443/")
	var ce *ferry.ConfigError
	if errors.As(err, &ce) {
		fmt.Println(ce.Field, errors.Is(err, ferry.ErrInvalidConfig), errors.Is(err, verify.ErrBadFingerprint))
	}
	// Output: OriginVerify.Fingerprint true true
}

// ConnInfoOf tells whether TLS with the target was verified, so a program
// can refuse to use an answer that came over an unverified connection.
func ExampleConnInfoOf() {
	s := startServers()
	defer s.stop()

	tr := &ferry.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	resp, err := (&http.Client{Transport: tr}).Get(s.secure.URL)
	if err != nil {
		fmt.Println("error:", err)
		return
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
	s := startServers()
	defer s.stop()

	tr := &ferry.Transport{Proxy: http.ProxyURL(mustParse(s.httpProxy.URL))}
	req, err := http.NewRequest("GET", s.plain.URL, nil)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	ctx := ferry.WithProxyHeader(req.Context(), http.Header{"X-Request-Id": {"abc"}})
	resp, err := (&http.Client{Transport: tr}).Do(req.WithContext(ctx))
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	resp.Body.Close()
	fmt.Println(s.proxy.lastHeader().Get("X-Request-Id"))
	// Output: abc
}

// Migrating: keep the http.Transport you had, get ferry's semantics.
func ExampleNewFromHTTPTransport() {
	old := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: "proxy.internal:3128"}), MaxIdleConnsPerHost: 8}
	tr := ferry.NewFromHTTPTransport(old)
	fmt.Println(tr.MaxIdleConnsPerHost, tr.Proxy != nil)
	// Output: 8 true
}

// ---------------------------------------------------------------------------
// What the examples talk to, all on loopback and in this process.

// servers are two origins answering "hello" (http and https), an http and
// an https proxy (both exampleProxy), a proxy that refuses every request
// with 407, a SOCKS5 server, and the roots that trust every TLS server here
// (httptest gives all its TLS servers one certificate, valid for 127.0.0.1).
type servers struct {
	plain, secure         *httptest.Server
	httpProxy, httpsProxy *httptest.Server
	refusingProxy         *httptest.Server
	proxy                 *exampleProxy
	socks                 *socksServer
	roots                 *x509.CertPool
}

func startServers() *servers {
	s := &servers{}
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	s.plain = httptest.NewServer(hello)
	s.secure = httptest.NewTLSServer(hello)
	s.roots = x509.NewCertPool()
	s.roots.AddCert(s.secure.Certificate())

	s.proxy = &exampleProxy{upstream: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.roots}}}
	s.proxy.origins = []string{s.plain.Listener.Addr().String(), s.secure.Listener.Addr().String()}
	s.httpProxy = httptest.NewServer(s.proxy)
	s.httpsProxy = httptest.NewTLSServer(s.proxy)
	s.refusingProxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Proxy-Authenticate", `Basic realm="example"`)
		w.WriteHeader(http.StatusProxyAuthRequired)
		io.WriteString(w, "login first")
	}))
	s.socks = startSOCKS5(s.proxy.origins)
	return s
}

func (s *servers) stop() {
	s.socks.ln.Close()
	s.refusingProxy.Close()
	s.httpsProxy.Close()
	s.httpProxy.Close()
	s.proxy.upstream.CloseIdleConnections()
	s.secure.Close()
	s.plain.Close()
}

// show prints the status, the body and what ConnInfoOf says of a GET.
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

func mustParse(raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	return u
}

// exampleProxy is a small HTTP proxy: it forwards absolute-form requests
// (http:// and https:// URLs) with its upstream Transport and tunnels
// CONNECT requests, and records every request line and header it received.
type exampleProxy struct {
	upstream *http.Transport
	origins  []string // host:port shown as ORIGIN in request lines

	mu      sync.Mutex
	lines   []string
	headers []http.Header
}

func (p *exampleProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.lines = append(p.lines, r.Method+" "+r.RequestURI+" "+r.Proto)
	p.headers = append(p.headers, r.Header.Clone())
	p.mu.Unlock()

	if r.Method == http.MethodConnect {
		p.tunnel(w, r)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = "" // a client request has none
	out.Header.Del("Proxy-Authorization")
	out.Header.Del("Proxy-Connection")
	resp, err := p.upstream.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

func (p *exampleProxy) tunnel(w http.ResponseWriter, r *http.Request) {
	dst, err := net.Dial("tcp", r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		dst.Close()
		return
	}
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	relay(c, brw.Reader, dst)
}

// requestLines returns the request lines received, with the origins'
// addresses (which change from run to run) shown as ORIGIN.
func (p *exampleProxy) requestLines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return withOrigins(p.lines, p.origins)
}

// withOrigins returns lines with the origins' addresses, which change from
// run to run, replaced by ORIGIN.
func withOrigins(lines, origins []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		for _, o := range origins {
			l = strings.ReplaceAll(l, o, "ORIGIN")
		}
		out[i] = l
	}
	return out
}

// lastHeader returns the header of the last request received.
func (p *exampleProxy) lastHeader() http.Header {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.headers) == 0 {
		return nil
	}
	return p.headers[len(p.headers)-1]
}

// socksServer is a SOCKS5 server (RFC 1928) that accepts clients without
// authentication, carries out CONNECT requests and records where to.
type socksServer struct {
	ln      net.Listener
	addr    string
	origins []string // host:port shown as ORIGIN by connected

	mu      sync.Mutex
	targets []string
}

func startSOCKS5(origins []string) *socksServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s := &socksServer{ln: ln, addr: ln.Addr().String(), origins: origins}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

// connected returns where the server connected its clients, with the
// origins' addresses shown as ORIGIN.
func (s *socksServer) connected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return withOrigins(s.targets, s.origins)
}

func (s *socksServer) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	read := func(n int) []byte {
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil
		}
		return b
	}
	// Greeting: version 5 and the methods the client offers; pick 0, none.
	greeting := read(2)
	if greeting == nil || greeting[0] != 5 || read(int(greeting[1])) == nil {
		return
	}
	c.Write([]byte{5, 0})
	// Request: version, command (1 is CONNECT), reserved, address type.
	req := read(4)
	if req == nil || req[1] != 1 {
		return
	}
	var host string
	switch req[3] {
	case 1: // IPv4
		host = net.IP(read(4)).String()
	case 4: // IPv6
		host = net.IP(read(16)).String()
	case 3: // a name, preceded by its length
		n, err := br.ReadByte()
		if err != nil {
			return
		}
		host = string(read(int(n)))
	default:
		return
	}
	port := read(2)
	if port == nil {
		return
	}
	target := net.JoinHostPort(host, strconv.Itoa(int(port[0])<<8|int(port[1])))
	s.mu.Lock()
	s.targets = append(s.targets, target)
	s.mu.Unlock()
	dst, err := net.Dial("tcp", target)
	if err != nil {
		c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0}) // connection refused
		return
	}
	c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0}) // succeeded; bound address not given
	relay(c, br, dst)
}

// relay copies between a client connection (read through r, which may hold
// bytes already buffered) and dst until either side stops, then closes both.
func relay(client net.Conn, r io.Reader, dst net.Conn) {
	done := make(chan struct{}, 2)
	go func() { io.Copy(dst, r); done <- struct{}{} }()
	go func() { io.Copy(client, dst); done <- struct{}{} }()
	<-done
	client.Close()
	dst.Close()
}
