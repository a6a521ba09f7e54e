package ferry_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/internal/testcert"
)

// leanServer answers every request with a canned response, reading request
// bodies by Content-Length, allocating nothing per request, so that a
// benchmark measures the client. body is the response body.
func leanServer(b *testing.B, body []byte, tlsConf *tls.Config) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	resp := append([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"), body...)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if tlsConf != nil {
				c = tls.Server(c, tlsConf)
			}
			go serveLean(c, resp)
		}
	}()
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
	}
	return scheme + "://" + ln.Addr().String() + "/"
}

var contentLengthPrefix = []byte("content-length:")

func serveLean(c net.Conn, resp []byte) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	for {
		var n int64
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				break
			}
			if len(line) > len(contentLengthPrefix) && bytes.EqualFold(line[:len(contentLengthPrefix)], contentLengthPrefix) {
				n, _ = strconv.ParseInt(string(bytes.TrimSpace(line[len(contentLengthPrefix):])), 10, 64)
			}
		}
		if n > 0 {
			if _, err := br.Discard(int(n)); err != nil {
				return
			}
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
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

// BenchmarkGet: keep-alive GET of a small body, sequential, plain and TLS.
// Requests go straight to RoundTrip (http.Client adds the same ~6
// allocations to both).
func BenchmarkGet(b *testing.B) {
	ca, leaf := testcert.MustLocalhost("bench CA")
	for _, scheme := range []string{"http", "https"} {
		var srvTLS, cliTLS *tls.Config
		if scheme == "https" {
			srvTLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
			cliTLS = &tls.Config{RootCAs: ca.Pool()}
		}
		url := leanServer(b, []byte("hello"), srvTLS)
		for _, im := range benchImpls {
			b.Run(scheme+"/"+im.name, func(b *testing.B) {
				rt := im.rt(cliTLS, nil)
				req, _ := http.NewRequest("GET", url, nil)
				roundTrip(b, rt, req)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					roundTrip(b, rt, req)
				}
			})
		}
	}
}

// BenchmarkGetParallel: keep-alive GET from many goroutines.
func BenchmarkGetParallel(b *testing.B) {
	url := leanServer(b, []byte("hello"), nil)
	for _, im := range benchImpls {
		b.Run(im.name, func(b *testing.B) {
			rt := im.rt(nil, nil)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req, _ := http.NewRequest("GET", url, nil)
				for pb.Next() {
					roundTrip(b, rt, req)
				}
			})
		})
	}
}

// BenchmarkDownload1MiB and BenchmarkUpload1MiB move a mebibyte each way.
func BenchmarkDownload1MiB(b *testing.B) {
	url := leanServer(b, bytes.Repeat([]byte("d"), 1<<20), nil)
	for _, im := range benchImpls {
		b.Run(im.name, func(b *testing.B) {
			rt := im.rt(nil, nil)
			req, _ := http.NewRequest("GET", url, nil)
			b.SetBytes(1 << 20)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				roundTrip(b, rt, req)
			}
		})
	}
}

func BenchmarkUpload1MiB(b *testing.B) {
	url := leanServer(b, []byte("ok"), nil)
	payload := bytes.Repeat([]byte("u"), 1<<20)
	for _, im := range benchImpls {
		b.Run(im.name, func(b *testing.B) {
			rt := im.rt(nil, nil)
			b.SetBytes(1 << 20)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				req, _ := http.NewRequest("PUT", url, bytes.NewReader(payload))
				roundTrip(b, rt, req)
			}
		})
	}
}

// BenchmarkProxy: keep-alive GET through the in-process proxy, forwarded
// (http target) and tunnelled (https target), same proxy for both.
func BenchmarkProxy(b *testing.B) {
	ca, leaf := testcert.MustLocalhost("bench CA")
	p, err := proxytest.New(proxytest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	plain := leanServer(b, []byte("hello"), nil)
	secure := leanServer(b, []byte("hello"), &tls.Config{Certificates: []tls.Certificate{leaf}})
	for _, c := range []struct{ name, url string }{{"forward", plain}, {"tunnel", secure}} {
		for _, im := range benchImpls {
			b.Run(c.name+"/"+im.name, func(b *testing.B) {
				rt := im.rt(&tls.Config{RootCAs: ca.Pool()}, p.URL())
				req, _ := http.NewRequest("GET", c.url, nil)
				roundTrip(b, rt, req)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					roundTrip(b, rt, req)
				}
			})
		}
	}
}
