package ferry_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/origintest"
	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/internal/testcert"
)

// leanServer answers every request with a canned response, reading request
// bodies by Content-Length, allocating nothing per request, so that a
// benchmark measures the client. body is the response body.
func leanServer(tb testing.TB, body []byte, tlsConf *tls.Config) string {
	tb.Helper()
	resp := append([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"), body...)
	addr := origintest.ServeConns(tb, func(c net.Conn) {
		if tlsConf != nil {
			c = tls.Server(c, tlsConf)
		}
		serveLean(c, resp)
	})
	if tlsConf != nil {
		return "https://" + addr + "/"
	}
	return "http://" + addr + "/"
}

var contentLengthPrefix = []byte("content-length:")

func serveLean(c net.Conn, resp []byte) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	for {
		n, ok := readHead(br, nil, false)
		if !ok {
			return
		}
		if _, err := br.Discard(n); err != nil {
			return
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// benchChild runs the benchmarks' servers in a child process, as real
// servers run. By default they share the benchmark's process: the figures
// are then steadier and show the clients' own cost, but client, proxy and
// origin share one Go scheduler, and how its threads hand work to each other
// weighs on them too (see the README's performance section).
var benchChild = flag.Bool("bench.child", false, "run the benchmarks' servers in a child process")

// benchServers are the servers the benchmarks talk to.
type benchServers struct {
	Small    string // http: answers "hello"
	SmallTLS string // https: answers "hello"
	Large    string // http: answers 1 MiB
	Proxy    string // the recording proxy of the other tests (proxytest)
	Lean     string // leanProxy
	CAPEM    []byte // the CA of SmallTLS's certificate
}

func (s *benchServers) caPool(tb testing.TB) *x509.CertPool {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CAPEM) {
		tb.Fatal("bench servers: bad CA PEM")
	}
	return pool
}

// startBenchServers starts the servers in this process.
func startBenchServers(tb testing.TB) *benchServers {
	ca, leaf := testcert.MustLocalhost("bench CA")
	p := startProxy(tb, proxytest.Options{})
	return &benchServers{
		Small:    leanServer(tb, []byte("hello"), nil),
		SmallTLS: leanServer(tb, []byte("hello"), &tls.Config{Certificates: []tls.Certificate{leaf}}),
		Large:    leanServer(tb, bytes.Repeat([]byte("d"), 1<<20), nil),
		Proxy:    p.URL().String(),
		Lean:     leanProxy(tb).String(),
		CAPEM:    ca.CertPEM,
	}
}

const benchPeerEnv = "FERRY_BENCH_PEER"

// benchPeerPrefix starts the line on which the child reports its servers.
const benchPeerPrefix = "ferry-bench-servers: "

// TestBenchPeer is not a test: it is the child process the benchmarks start
// their servers in. It reports them on stdout and serves until stdin closes.
func TestBenchPeer(t *testing.T) {
	if os.Getenv(benchPeerEnv) != "1" {
		t.Skip("the benchmarks' server process; runs only when they start it")
	}
	js, err := json.Marshal(startBenchServers(t))
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString(benchPeerPrefix + string(js) + "\n")
	io.Copy(io.Discard, os.Stdin)
}

// benchServersFor returns the servers for one benchmark: in this process,
// or with -bench.child in a child process (this test binary again, running
// TestBenchPeer).
func benchServersFor(b *testing.B) *benchServers {
	if !*benchChild {
		return startBenchServers(b)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchPeer$", "-test.count=1")
	cmd.Env = append(os.Environ(), benchPeerEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close() // the child returns from TestBenchPeer and exits
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	type result struct {
		s   *benchServers
		err error
	}
	found := make(chan result, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), benchPeerPrefix); ok {
				var s benchServers
				found <- result{&s, json.Unmarshal([]byte(line), &s)}
				io.Copy(io.Discard, stdout) // keep the child from blocking on output
				return
			}
		}
		found <- result{nil, io.ErrUnexpectedEOF}
	}()
	select {
	case r := <-found:
		if r.err != nil {
			b.Fatalf("bench server process: %v", r.err)
		}
		return r.s
	case <-time.After(30 * time.Second):
		b.Fatal("bench server process did not report its servers in 30s")
		return nil
	}
}

type benchImpl struct {
	name string
	rt   func(tlsConf *tls.Config, proxy *url.URL) http.RoundTripper
}

var benchImpls = []benchImpl{
	{"ferry", func(c *tls.Config, p *url.URL) http.RoundTripper {
		t := &ferry.Transport{TLSClientConfig: c, DisableCompression: true, MaxIdleConnsPerHost: 64}
		if p != nil {
			t.Proxy = http.ProxyURL(p)
		}
		return t
	}},
	{"nethttp", func(c *tls.Config, p *url.URL) http.RoundTripper {
		t := &http.Transport{TLSClientConfig: c, DisableCompression: true, MaxIdleConnsPerHost: 64}
		if p != nil {
			t.Proxy = http.ProxyURL(p)
		}
		return t
	}},
}

func roundTrip(b *testing.B, rt http.RoundTripper, req *http.Request) {
	resp, err := rt.RoundTrip(req)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
}

// sequential runs b.N round trips of req, one after another, after one
// untimed trip that opens the connection.
func sequential(b *testing.B, rt http.RoundTripper, req *http.Request) {
	roundTrip(b, rt, req)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		roundTrip(b, rt, req)
	}
}

// BenchmarkGet: keep-alive GET of a small body, sequential, plain and TLS.
// Requests go straight to RoundTrip (http.Client adds the same ~6
// allocations to both).
func BenchmarkGet(b *testing.B) {
	srv := benchServersFor(b)
	cliTLS := &tls.Config{RootCAs: srv.caPool(b)}
	for _, c := range []struct{ name, url string }{{"http", srv.Small}, {"https", srv.SmallTLS}} {
		for _, im := range benchImpls {
			b.Run(c.name+"/"+im.name, func(b *testing.B) {
				req, _ := http.NewRequest("GET", c.url, nil)
				sequential(b, im.rt(cliTLS, nil), req)
			})
		}
	}
}

// BenchmarkGetParallel: keep-alive GET from many goroutines.
func BenchmarkGetParallel(b *testing.B) {
	srv := benchServersFor(b)
	for _, im := range benchImpls {
		b.Run(im.name, func(b *testing.B) {
			rt := im.rt(nil, nil)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req, _ := http.NewRequest("GET", srv.Small, nil)
				for pb.Next() {
					roundTrip(b, rt, req)
				}
			})
		})
	}
}

// BenchmarkDownload1MiB and BenchmarkUpload1MiB move a mebibyte each way.
func BenchmarkDownload1MiB(b *testing.B) {
	srv := benchServersFor(b)
	for _, im := range benchImpls {
		b.Run(im.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", srv.Large, nil)
			b.SetBytes(1 << 20)
			sequential(b, im.rt(nil, nil), req)
		})
	}
}

func BenchmarkUpload1MiB(b *testing.B) {
	srv := benchServersFor(b)
	payload := bytes.Repeat([]byte("u"), 1<<20)
	for _, im := range benchImpls {
		b.Run(im.name, func(b *testing.B) {
			rt := im.rt(nil, nil)
			b.SetBytes(1 << 20)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				req, _ := http.NewRequest("PUT", srv.Small, bytes.NewReader(payload))
				roundTrip(b, rt, req)
			}
		})
	}
}

// BenchmarkProxy: keep-alive GET through a proxy, forwarded (http target)
// and tunnelled (https target), the same proxy for both clients: leanProxy,
// which measures the clients, and the recording proxy of the other tests,
// whose own work dominates.
func BenchmarkProxy(b *testing.B) {
	srv := benchServersFor(b)
	cliTLS := &tls.Config{RootCAs: srv.caPool(b)}
	for _, p := range []struct{ name, url string }{{"lean", srv.Lean}, {"recording", srv.Proxy}} {
		for _, c := range []struct{ name, url string }{{"forward", srv.Small}, {"tunnel", srv.SmallTLS}} {
			for _, im := range benchImpls {
				b.Run(p.name+"/"+c.name+"/"+im.name, func(b *testing.B) {
					req, _ := http.NewRequest("GET", c.url, nil)
					sequential(b, im.rt(cliTLS, mustURL(b, p.url)), req)
				})
			}
		}
	}
}

// leanProxy is a forwarding and tunnelling proxy as lean as leanServer, so
// that BenchmarkProxy measures the clients rather than the proxy: it forwards
// absolute-form requests (bodies by Content-Length) over one kept-alive
// upstream connection per client connection and copies the answer back in
// one write, and it tunnels CONNECT. It serves loopback origins only.
func leanProxy(tb testing.TB) *url.URL {
	tb.Helper()
	return &url.URL{Scheme: "http", Host: origintest.ServeConns(tb, serveLeanProxy)}
}

func serveLeanProxy(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	var up net.Conn
	var upr *bufio.Reader
	defer func() {
		if up != nil {
			up.Close()
		}
	}()
	dial := func(hostport string) bool {
		if h, _, err := net.SplitHostPort(hostport); err != nil || (h != "127.0.0.1" && h != "localhost") {
			return false
		}
		if up == nil {
			var err error
			if up, err = net.Dial("tcp", hostport); err != nil {
				return false
			}
			upr = bufio.NewReaderSize(up, 64<<10)
		}
		return true
	}
	var head []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		method, rest, _ := bytes.Cut(line, []byte(" "))
		target, proto, _ := bytes.Cut(rest, []byte(" "))
		if string(method) == "CONNECT" {
			if !dial(string(target)) {
				return
			}
			if _, ok := readHead(br, nil, false); !ok {
				return
			}
			if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
				return
			}
			go func() { io.Copy(up, br); up.(*net.TCPConn).CloseWrite() }()
			io.Copy(c, upr)
			return
		}
		u, err := url.Parse(string(target))
		if err != nil || !dial(u.Host) {
			return
		}
		head = append(append(append(append(head[:0], method...), ' '), u.RequestURI()...), ' ')
		head = append(head, proto...)
		n, ok := readHead(br, &head, true)
		if !ok {
			return
		}
		if head, err = appendN(head, br, n); err != nil {
			return
		}
		if _, err := up.Write(head); err != nil {
			return
		}
		head = head[:0]
		if n, ok = readHead(upr, &head, false); !ok {
			return
		}
		if head, err = appendN(head, upr, n); err != nil {
			return
		}
		if _, err := c.Write(head); err != nil {
			return
		}
	}
}

// readHead reads the lines of a request or response head up to and including
// the blank line, appends them to head unless it is nil (leaving out the
// proxy's own headers when dropProxy), and returns the Content-Length.
func readHead(br *bufio.Reader, head *[]byte, dropProxy bool) (int, bool) {
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false
		}
		if dropProxy && len(line) > 6 && bytes.EqualFold(line[:6], []byte("proxy-")) {
			continue
		}
		if head != nil {
			*head = append(*head, line...)
		}
		if len(line) <= 2 {
			return n, true
		}
		if len(line) > len(contentLengthPrefix) && bytes.EqualFold(line[:len(contentLengthPrefix)], contentLengthPrefix) {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(line[len(contentLengthPrefix):])))
		}
	}
}

// appendN appends n bytes from br to b.
func appendN(b []byte, br *bufio.Reader, n int) ([]byte, error) {
	start := len(b)
	b = append(b, make([]byte, n)...)
	_, err := io.ReadFull(br, b[start:])
	return b, err
}
