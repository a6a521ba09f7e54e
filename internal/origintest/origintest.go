// Package origintest is the origin server of ferry's tests: an httptest
// server on loopback that records what reached it and counts the TCP
// connections it accepted, so that a test can assert what a client sent and
// whether it reused a connection.
package origintest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Options configure an Origin.
type Options struct {
	// Cert makes the origin speak TLS with this certificate.
	Cert *tls.Certificate
	// Handler answers after the request was recorded. Nil answers 200 with
	// "hello from " and the path.
	Handler http.HandlerFunc
	// ReadBody reads the request body before Handler runs and records it in
	// Seen.Body. Leave it off to let Handler answer before the body arrived.
	ReadBody bool
	// Configure, when set, adjusts the http.Server before it starts.
	Configure func(*http.Server)
	// HTTP2 lets a TLS origin offer h2 in ALPN (httptest's EnableHTTP2).
	HTTP2 bool
}

// Seen is one request as the origin received it.
type Seen struct {
	Method     string
	RequestURI string // as on the request line
	Path       string
	Host       string
	Header     http.Header
	Body       string // with Options.ReadBody
	Proto      string // "HTTP/1.1", "HTTP/2.0"
}

// Origin is a running origin server. Its embedded httptest.Server gives the
// URL and the client certificate pool.
type Origin struct {
	*httptest.Server

	mu    sync.Mutex
	seen  []Seen
	conns int
	idle  map[net.Conn]bool
}

// New starts an origin on loopback and stops it when the test ends.
func New(tb testing.TB, o Options) *Origin {
	tb.Helper()
	s := &Origin{idle: make(map[net.Conn]bool)}
	h := o.Handler
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello from "+r.URL.Path) }
	}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen := Seen{Method: r.Method, RequestURI: r.RequestURI, Path: r.URL.Path, Host: r.Host, Header: r.Header.Clone(), Proto: r.Proto}
		if o.ReadBody {
			body, _ := io.ReadAll(r.Body)
			seen.Body = string(body)
		}
		s.mu.Lock()
		s.seen = append(s.seen, seen)
		s.mu.Unlock()
		h(w, r)
	}))
	s.Config.ConnState = func(c net.Conn, st http.ConnState) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch st {
		case http.StateNew:
			s.conns++
		case http.StateIdle:
			s.idle[c] = true
		default:
			delete(s.idle, c)
		}
	}
	if o.Configure != nil {
		o.Configure(s.Config)
	}
	s.EnableHTTP2 = o.HTTP2
	if o.Cert != nil {
		s.TLS = &tls.Config{Certificates: []tls.Certificate{*o.Cert}}
		s.StartTLS()
	} else {
		s.Start()
	}
	tb.Cleanup(s.Close)
	return s
}

// Received returns the requests that reached the origin, in order.
func (s *Origin) Received() []Seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Seen(nil), s.seen...)
}

// ConnCount returns how many TCP connections the origin accepted.
func (s *Origin) ConnCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// KillIdle closes the server side of every idle keep-alive connection, as a
// server whose keep-alive timeout fired would, and gives the clients a moment
// to see the close.
func (s *Origin) KillIdle() {
	s.mu.Lock()
	for c := range s.idle {
		c.Close()
	}
	clear(s.idle)
	s.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
}

// ServeConns listens on loopback, runs handle on its own goroutine for every
// connection accepted, and returns the address. The listener closes when the
// test ends; handle closes its connection.
func ServeConns(tb testing.TB, handle func(net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return ln.Addr().String()
}

// HoldConns is ServeConns for servers that keep each connection open until
// the test ends: after handle returns, the connection stays open (neither
// read nor closed by the server) until cleanup, which closes every
// connection (ending a handler still blocked reading it) and waits for
// every handler.
func HoldConns(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	done := make(chan struct{})
	var (
		mu     sync.Mutex // orders wg.Add before wg.Wait; guards open
		ending bool
		open   = map[net.Conn]bool{}
		wg     sync.WaitGroup
	)
	addr := ServeConns(t, func(c net.Conn) {
		defer c.Close()
		mu.Lock()
		if ending {
			mu.Unlock()
			return
		}
		wg.Add(1)
		open[c] = true
		mu.Unlock()
		defer wg.Done()
		handle(c)
		<-done
	})
	// Registered after ServeConns's, so it runs first: handlers end before
	// the listener closes.
	t.Cleanup(func() {
		mu.Lock()
		ending = true
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		close(done)
		wg.Wait()
	})
	return addr
}

// DeadlineSpread sends GET target through rt from workers goroutines,
// perWorker requests each, with context deadlines spread over the stages of
// a connection: 0 to 4 ms in 100 µs steps (dial, CONNECT), 0 to 40 ms in
// 1 ms steps (TLS handshakes under -race), and now and then long, long
// enough to get through. It fails tb unless every failure is the context's
// deadline and both outcomes occurred.
func DeadlineSpread(tb testing.TB, rt http.RoundTripper, target string, workers, perWorker int, long time.Duration) {
	tb.Helper()
	var mu sync.Mutex
	var unexpected []string
	var ok, timedOut int
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				idx := g*perWorker + i
				d := time.Duration(idx%41) * 100 * time.Microsecond
				if idx%2 == 1 {
					d = time.Duration(idx%41) * time.Millisecond
				}
				if (g+i)%9 == 0 {
					d = long
				}
				err := getWithin(rt, target, d)
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, context.DeadlineExceeded):
					timedOut++
				default:
					unexpected = append(unexpected, fmt.Sprintf("%v: %v (%T)", d, err, err))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	tb.Logf("%d ok, %d timed out", ok, timedOut)
	if len(unexpected) > 0 {
		tb.Errorf("%d failures that are not the context's deadline, first: %s", len(unexpected), unexpected[0])
	}
	if ok == 0 || timedOut == 0 {
		tb.Errorf("%d ok, %d timed out: the spread missed the stages", ok, timedOut)
	}
}

// getWithin sends GET target with a deadline d and reads the whole body.
func getWithin(rt http.RoundTripper, target string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", target, nil)
	if err != nil {
		return err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	return err
}
