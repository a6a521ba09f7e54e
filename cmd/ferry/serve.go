package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/internal/testcert"
)

// serveOptions are the flags of `ferry serve`: loopback servers for ferry
// bench to measure against from another process, as real servers run.
type serveOptions struct {
	HTTP, HTTPS, H2, Proxy string
	CA                     string
	Size                   int
}

const (
	maxServeSize  = 1 << 30 // the largest body /bytes/N serves
	serveDefault  = "127.0.0.1:0"
	serveDisabled = "off"
)

func (o *serveOptions) flagSet() *flagSet {
	fs := newFlagSet("serve", "")
	fs.stringVar(&o.HTTP, "--http", "ADDR", "plain HTTP origin (default 127.0.0.1:0, a free port; off for none)")
	fs.stringVar(&o.HTTPS, "--https", "ADDR", "HTTPS origin, certificate from a CA made at start (default 127.0.0.1:0; off)")
	fs.stringVar(&o.H2, "--h2", "ADDR", "HTTPS origin that offers HTTP/2 (h2, then http/1.1), same CA (default off)")
	fs.stringVar(&o.Proxy, "--proxy", "ADDR", "forwarding and CONNECT proxy to loopback origins (default off)")
	fs.stringVar(&o.CA, "--ca", "FILE", "write the CA certificate (PEM) here, for --cacert (default a temporary file)")
	fs.intVar(&o.Size, "--size", "N", "bytes in each response body (default 13); GET /bytes/N serves N", 0, maxServeSize)
	return fs
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := &serveOptions{HTTP: serveDefault, HTTPS: serveDefault, H2: serveDisabled, Proxy: serveDisabled, Size: -1}
	fs := o.flagSet()
	if _, err := fs.parse(args); err != nil {
		if err == errHelp {
			fs.usage(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "ferry serve: %v (see ferry serve -h)\n", err)
		return exitUsage
	}
	s, err := startServe(o)
	if err != nil {
		fmt.Fprintf(stderr, "ferry serve: %v\n", err)
		return exitCodeOf(err)
	}
	defer s.close()
	s.print(stdout)
	<-ctx.Done()
	return exitOK
}

// served is a running `ferry serve`.
type served struct {
	httpURL, httpsURL, h2URL, proxyURL string
	caFile                             string
	tempDir                            string
	servers                            []*http.Server
	proxy                              *proxytest.Proxy
}

func (s *served) print(w io.Writer) {
	fmt.Fprintln(w, "ferry serve: loopback servers, until interrupted")
	if s.httpURL != "" {
		fmt.Fprintf(w, "http   %s\n", s.httpURL)
	}
	if s.httpsURL != "" {
		fmt.Fprintf(w, "https  %s  --cacert %s\n", s.httpsURL, s.caFile)
	}
	if s.h2URL != "" {
		fmt.Fprintf(w, "h2     %s  --cacert %s\n", s.h2URL, s.caFile)
	}
	if s.proxyURL != "" {
		fmt.Fprintf(w, "proxy  %s  (forwards and tunnels to loopback only)\n", s.proxyURL)
	}
}

func (s *served) close() {
	for _, srv := range s.servers {
		srv.Close()
	}
	if s.proxy != nil {
		s.proxy.Close()
	}
	if s.tempDir != "" {
		os.RemoveAll(s.tempDir)
	}
}

// loopbackAddr refuses an address that is not on loopback: these servers
// are for measuring, and the proxy dials loopback only.
func loopbackAddr(flag, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErr("%s %q: %v", flag, addr, err)
	}
	if !proxytest.IsLoopback(host) {
		return usageErr("%s %q: ferry serve listens on loopback only", flag, addr)
	}
	return nil
}

func startServe(o *serveOptions) (s *served, err error) {
	s = &served{}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	for _, a := range []struct{ flag, addr string }{{"--http", o.HTTP}, {"--https", o.HTTPS}, {"--h2", o.H2}, {"--proxy", o.Proxy}} {
		if a.addr != serveDisabled {
			if err := loopbackAddr(a.flag, a.addr); err != nil {
				return s, err
			}
		}
	}
	raiseFileLimit(1 << 20) // as many connections as the hard limit allows: --idle opens thousands
	body := []byte("hello, ferry\n")
	if o.Size >= 0 {
		body = alphabet(o.Size)
	}
	h := serveHandler(body)
	ca, leaf := testcert.MustLocalhost("ferry serve CA")
	// listen serves h on addr: plain HTTP without tlsCfg; with it, HTTPS
	// that speaks HTTP/2 when tlsCfg offers h2, HTTP/1.1 only otherwise.
	listen := func(addr string, tlsCfg *tls.Config) (string, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return "", err
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 10 * time.Minute,
			ErrorLog: log.New(io.Discard, "", 0)}
		scheme := "http"
		if tlsCfg != nil {
			scheme = "https"
			if !slices.Contains(tlsCfg.NextProtos, "h2") {
				srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){} // HTTP/1.1 only
			}
			ln = tls.NewListener(ln, tlsCfg)
		}
		s.servers = append(s.servers, srv)
		go srv.Serve(ln)
		return scheme + "://" + ln.Addr().String() + "/", nil
	}
	if o.HTTP != serveDisabled {
		if s.httpURL, err = listen(o.HTTP, nil); err != nil {
			return s, err
		}
	}
	if o.HTTPS != serveDisabled {
		if s.httpsURL, err = listen(o.HTTPS, &tls.Config{Certificates: []tls.Certificate{leaf}, NextProtos: []string{"http/1.1"}}); err != nil {
			return s, err
		}
	}
	if o.H2 != serveDisabled {
		if s.h2URL, err = listen(o.H2, &tls.Config{Certificates: []tls.Certificate{leaf}, NextProtos: []string{"h2", "http/1.1"}}); err != nil {
			return s, err
		}
	}
	if s.httpsURL != "" || s.h2URL != "" {
		s.caFile = o.CA
		if s.caFile == "" {
			if s.tempDir, err = os.MkdirTemp("", "ferry-serve-"); err != nil {
				return s, err
			}
			s.caFile = filepath.Join(s.tempDir, "ca.pem")
		}
		if err := os.WriteFile(s.caFile, ca.CertPEM, 0o644); err != nil {
			return s, err
		}
	}
	if o.Proxy != serveDisabled {
		s.proxy, err = proxytest.New(proxytest.Options{Addr: o.Proxy, NoRecord: true, UpstreamTLS: &tls.Config{RootCAs: ca.Pool()}})
		if err != nil {
			return s, err
		}
		s.proxyURL = s.proxy.URL().String()
	}
	if s.httpURL == "" && s.httpsURL == "" && s.h2URL == "" && s.proxyURL == "" {
		return s, usageErr("nothing to serve: every server is off")
	}
	return s, nil
}

// alphabet returns n bytes of a, b, ..., z, a, ...: a body that is easy to
// read and to check.
func alphabet(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

// serveHandler answers every request with body, drained request body first,
// and GET /bytes/N with N bytes; it allocates little, so that a benchmark's
// figures show the client.
func serveHandler(body []byte) http.Handler {
	ctype := []string{"text/plain; charset=utf-8"}
	clen := []string{strconv.Itoa(len(body))}
	chunk := alphabet(32 << 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		h := w.Header()
		h["Content-Type"] = ctype
		if n, ok := strings.CutPrefix(r.URL.Path, "/bytes/"); ok {
			size, err := strconv.ParseInt(n, 10, 64)
			if err != nil || size < 0 || size > maxServeSize {
				http.Error(w, "want /bytes/N with N in [0, 1 GiB]", http.StatusBadRequest)
				return
			}
			h["Content-Length"] = []string{n}
			for size > 0 {
				k, err := w.Write(chunk[:min(size, int64(len(chunk)))])
				if err != nil {
					return
				}
				size -= int64(k)
			}
			return
		}
		h["Content-Length"] = clen
		w.Write(body)
	})
}
