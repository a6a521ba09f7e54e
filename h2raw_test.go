package ferry_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/conn"
	"github.com/ferryhttp/ferry/internal/testcert"
)

// rawH2 is a scripted HTTP/2 server (x/net's framer, test-only) for what a
// well-behaved server never does: GOAWAY with streams left out, malformed
// frames, oversized header blocks, a stream that stalls. onStream answers
// stream id, the n-th (from 1) on its connection; it runs on the
// connection's read goroutine and must not block long.
type rawH2 struct {
	addr     string
	ca       *testcert.CA
	conns    atomic.Int32
	onStream func(s *rawStream)
	// settings go in the server's first SETTINGS frame, sent after
	// settingsDelay (both set by newRawH2's options).
	settings      []http2.Setting
	settingsDelay time.Duration
}

type rawStream struct {
	fr   *rawConn
	id   uint32
	n    int
	path string
}

type rawConn struct {
	mu sync.Mutex
	fr *http2.Framer
	nc net.Conn
}

func (c *rawConn) do(f func(fr *http2.Framer) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c.fr)
}

// headers writes a response header block (status and x-pad of padLen bytes).
func (s *rawStream) headers(status int, padLen int, end bool) {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	enc.WriteField(hpack.HeaderField{Name: ":status", Value: fmt.Sprint(status)})
	if padLen > 0 {
		enc.WriteField(hpack.HeaderField{Name: "x-pad", Value: strings.Repeat("a", padLen)})
	}
	s.fr.do(func(fr *http2.Framer) error {
		block := buf.Bytes()
		first := true
		for len(block) > 0 || first {
			n := min(len(block), 16<<10)
			chunk := block[:n]
			block = block[n:]
			if first {
				fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s.id, BlockFragment: chunk, EndStream: end, EndHeaders: len(block) == 0})
				first = false
			} else {
				fr.WriteContinuation(s.id, len(block) == 0, chunk)
			}
		}
		return nil
	})
}

func (s *rawStream) data(p string, end bool) {
	s.fr.do(func(fr *http2.Framer) error { return fr.WriteData(s.id, end, []byte(p)) })
}

func (s *rawStream) ok() { s.headers(200, 0, false); s.data("ok "+s.path, true) }

func newRawH2(t *testing.T, onStream func(s *rawStream), options ...func(*rawH2)) *rawH2 {
	t.Helper()
	ca, leaf := testcert.MustLocalhost("raw h2 CA")
	srv := &rawH2{ca: ca, onStream: onStream}
	for _, o := range options {
		o(srv)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{leaf}, NextProtos: []string{"h2"}}
	var wg sync.WaitGroup
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	srv.addr = ln.Addr().String()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, nc)
			mu.Unlock()
			srv.conns.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				srv.serve(nc)
			}()
		}
	}()
	return srv
}

func (srv *rawH2) serve(nc net.Conn) {
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(nc, preface); err != nil {
		return
	}
	c := &rawConn{fr: http2.NewFramer(nc, nc), nc: nc}
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	time.Sleep(srv.settingsDelay)
	c.do(func(fr *http2.Framer) error { return fr.WriteSettings(srv.settings...) })
	n := 0
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				c.do(func(fr *http2.Framer) error { return fr.WriteSettingsAck() })
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				c.do(func(fr *http2.Framer) error { return fr.WritePing(true, f.Data) })
			}
		case *http2.MetaHeadersFrame:
			n++
			srv.onStream(&rawStream{fr: c, id: f.StreamID, n: n, path: f.PseudoValue("path")})
		}
	}
}

func (srv *rawH2) url() string {
	return "https://" + strings.Replace(srv.addr, "127.0.0.1", "localhost", 1)
}

func (srv *rawH2) transport() *ferry.Transport {
	return &ferry.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: srv.ca.Pool()}}
}

func readAll(tr http.RoundTripper, rawURL string) (string, error) {
	req, err := http.NewRequest("GET", rawURL, nil)
	if err != nil {
		return "", err
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestHTTP2GoAway: a server that takes 5 streams per connection and then
// sends a graceful GOAWAY leaving out the streams after them (nginx's
// keepalive_requests): every request still succeeds, the left-out ones on
// new connections.
func TestHTTP2GoAway(t *testing.T) {
	const perConn = 5
	var mu sync.Mutex
	served := map[*rawConn]uint32{}
	srv := newRawH2(t, func(s *rawStream) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case s.n < perConn:
			s.ok()
		case s.n == perConn:
			s.ok()
			served[s.fr] = s.id
			s.fr.do(func(fr *http2.Framer) error { return fr.WriteGoAway(s.id, http2.ErrCodeNo, nil) })
		default:
			// Left out by the GOAWAY: never answered.
		}
	})
	tr := srv.transport()
	defer tr.CloseIdleConnections()
	var got atomic.Int32
	errs := runConcurrently(40, func(i int) error {
		body, err := readAll(tr, fmt.Sprintf("%s/%d", srv.url(), i))
		if err != nil {
			return err
		}
		if body != fmt.Sprintf("ok /%d", i) {
			return fmt.Errorf("body %q", body)
		}
		got.Add(1)
		return nil
	})
	if len(errs) > 0 {
		t.Fatalf("%d requests failed: %v", len(errs), errs)
	}
	if c := srv.conns.Load(); c < 40/perConn {
		t.Errorf("%d connections for 40 requests at %d per connection", c, perConn)
	}
}

// TestHTTP2BadInput: malformed frames, an oversized header block and a
// GOAWAY with an error in the middle of a body give the affected request a
// clear error, other requests keep working, and nothing leaks.
func TestHTTP2BadInput(t *testing.T) {
	baseG, baseFD := runtime.NumGoroutine(), openFDs()
	srv := newRawH2(t, func(s *rawStream) {
		switch s.path {
		case "/malformed":
			// A DATA frame on stream 0 is a connection error (PROTOCOL_ERROR).
			s.fr.do(func(fr *http2.Framer) error {
				return fr.WriteRawFrame(http2.FrameData, 0, 0, []byte("junk"))
			})
		case "/hugeheader":
			s.headers(200, 64<<10, true)
		case "/goaway-mid-body":
			s.headers(200, 0, false)
			s.data("partial", false)
			s.fr.do(func(fr *http2.Framer) error {
				fr.WriteGoAway(s.id-2, http2.ErrCodeInternal, []byte("going"))
				s.fr.nc.Close()
				return nil
			})
		default:
			s.ok()
		}
	})
	tr := srv.transport()
	tr.MaxResponseHeaderBytes = 16 << 10
	for _, path := range []string{"/malformed", "/hugeheader", "/goaway-mid-body"} {
		t.Run(path, func(t *testing.T) {
			_, err := readAll(tr, srv.url()+path)
			if !errors.Is(err, ferry.ErrHTTP2) {
				t.Errorf("err = %v, want one wrapping ErrHTTP2", err)
			}
			if body, err := readAll(tr, srv.url()+"/after"); err != nil || body != "ok /after" {
				t.Errorf("next request: %q, %v", body, err)
			}
		})
	}
	tr.CloseIdleConnections()
	checkNoGoroutineLeak(t, baseG+4)
	deadline := time.Now().Add(3 * time.Second)
	for openFDs() > baseFD+1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := openFDs(); n > baseFD+1 { // the raw server's listener
		t.Errorf("%d sockets open, %d before", n, baseFD)
	}
}

// TestHTTP2LateSettingsLimit: a server whose first SETTINGS frame, with
// MAX_CONCURRENT_STREAMS 1, comes 300 ms after the connection: two callers
// at once must not share its one stream (the engine counts 100 free until
// it has the frame). The second waits for the frame, then dials its own
// connection; both streams run at once, one per connection.
func TestHTTP2LateSettingsLimit(t *testing.T) {
	var mu sync.Mutex
	active := map[*rawConn]int{}
	maxActive := 0
	release := make(chan struct{})
	var started atomic.Int32
	srv := newRawH2(t, func(s *rawStream) {
		mu.Lock()
		active[s.fr]++
		maxActive = max(maxActive, active[s.fr])
		mu.Unlock()
		if started.Add(1) == 2 {
			close(release)
		}
		go func() {
			select {
			case <-release:
			case <-time.After(5 * time.Second): // never hang on a failure
			}
			mu.Lock()
			active[s.fr]--
			mu.Unlock()
			s.ok()
		}()
	}, func(srv *rawH2) {
		srv.settings = []http2.Setting{{ID: http2.SettingMaxConcurrentStreams, Val: 1}}
		srv.settingsDelay = 300 * time.Millisecond
	})
	tr := srv.transport()
	defer tr.CloseIdleConnections()
	errs := runConcurrently(2, func(int) error {
		body, err := readAll(tr, srv.url()+"/both")
		if err == nil && body != "ok /both" {
			err = fmt.Errorf("body %q", body)
		}
		return err
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	mu.Lock()
	defer mu.Unlock()
	if maxActive != 1 || srv.conns.Load() != 2 {
		t.Errorf("%d streams at once on one connection, %d connections; want 1 and 2", maxActive, srv.conns.Load())
	}
}

// TestHTTP2ReadTimeoutPerStream: ReadTimeout ends a stream whose server
// stalls mid-body with a *conn.TimeoutError, while a stream beside it on the
// same connection goes on; ResponseHeaderTimeout ends a stream with no
// header. The connection keeps serving.
func TestHTTP2ReadTimeoutPerStream(t *testing.T) {
	slowDone := make(chan struct{})
	t.Cleanup(func() { close(slowDone) })
	srv := newRawH2(t, func(s *rawStream) {
		switch s.path {
		case "/stall":
			s.headers(200, 0, false)
			s.data("first bytes", false) // and nothing more
		case "/noheader":
		case "/slow":
			// Bytes every 100 ms, 6 times: always within ReadTimeout.
			s.headers(200, 0, false)
			go func() {
				for i := range 6 {
					select {
					case <-slowDone:
						return
					case <-time.After(100 * time.Millisecond):
					}
					s.data("x", i == 5)
				}
			}()
		default:
			s.ok()
		}
	})
	tr := srv.transport()
	tr.ReadTimeout = 400 * time.Millisecond
	defer tr.CloseIdleConnections()
	var wg sync.WaitGroup
	var slowBody string
	var slowErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		slowBody, slowErr = readAll(tr, srv.url()+"/slow")
	}()
	_, err := readAll(tr, srv.url()+"/stall")
	wantTimeout(t, "stalled stream", err, conn.TimeoutError{Op: "read", Stage: "response body", Setting: "ReadTimeout", Limit: tr.ReadTimeout})
	_, err = readAll(tr, srv.url()+"/noheader")
	wantTimeout(t, "stream without header", err, conn.TimeoutError{Op: "read", Stage: "response header", Setting: "ReadTimeout", Limit: tr.ReadTimeout})
	wg.Wait()
	if slowErr != nil || slowBody != "xxxxxx" {
		t.Errorf("slow stream beside them: %q, %v", slowBody, slowErr)
	}
	if body, err := readAll(tr, srv.url()+"/after"); err != nil || body != "ok /after" {
		t.Errorf("next request: %q, %v", body, err)
	}
	if c := srv.conns.Load(); c != 1 {
		t.Errorf("%d connections, want 1 (a stream timeout must not close it)", c)
	}
}

// wantTimeout checks that err is a *conn.TimeoutError with want's Op,
// Stage, Setting and Limit.
func wantTimeout(t *testing.T, what string, err error, want conn.TimeoutError) {
	t.Helper()
	var te *conn.TimeoutError
	if !errors.As(err, &te) {
		t.Errorf("%s: err = %v, want a *conn.TimeoutError", what, err)
		return
	}
	got := conn.TimeoutError{Op: te.Op, Stage: te.Stage, Setting: te.Setting, Limit: te.Limit}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s: TimeoutError (-want +got):\n%s", what, diff)
	}
}

// TestHTTP2ContextCancelPerStream: cancelling one request's context ends its
// stream only.
func TestHTTP2ContextCancelPerStream(t *testing.T) {
	srv := newRawH2(t, func(s *rawStream) {
		if s.path == "/hang" {
			return
		}
		s.ok()
	})
	tr := srv.transport()
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.url()+"/hang", nil)
	_, err := tr.RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if body, err := readAll(tr, srv.url()+"/after"); err != nil || body != "ok /after" {
		t.Errorf("next request: %q, %v", body, err)
	}
	if c := srv.conns.Load(); c != 1 {
		t.Errorf("%d connections, want 1", c)
	}
}

// TestHTTP2HeaderTimeouts: ResponseHeaderTimeout and Client.Timeout end a
// stream without a header, each with its own error, and leave the connection
// serving.
func TestHTTP2HeaderTimeouts(t *testing.T) {
	srv := newRawH2(t, func(s *rawStream) {
		if s.path == "/noheader" {
			return
		}
		s.ok()
	})
	t.Run("ResponseHeaderTimeout", func(t *testing.T) {
		tr := srv.transport()
		tr.ResponseHeaderTimeout = 200 * time.Millisecond
		defer tr.CloseIdleConnections()
		_, err := readAll(tr, srv.url()+"/noheader")
		wantTimeout(t, "no header", err, conn.TimeoutError{Op: "read", Stage: "response header", Setting: "ResponseHeaderTimeout", Limit: tr.ResponseHeaderTimeout})
		if body, err := readAll(tr, srv.url()+"/after"); err != nil || body != "ok /after" {
			t.Errorf("next request: %q, %v", body, err)
		}
	})
	t.Run("Client.Timeout", func(t *testing.T) {
		tr := srv.transport()
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: 200 * time.Millisecond}
		_, err := client.Get(srv.url() + "/noheader")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		resp, err := client.Get(srv.url() + "/after")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if info, _ := ferry.ConnInfoOf(resp); !info.Reused || info.Proto != "HTTP/2.0" {
			t.Errorf("next request: %+v, want the same HTTP/2 connection", info)
		}
	})
}

// TestHTTP2DeadConnection: a server that goes silent (no frames, no PING
// answers) is found dead by HTTP2.SendPingTimeout/PingTimeout: the request on
// it fails, the connection leaves the pool, and the next request gets a new
// one.
func TestHTTP2DeadConnection(t *testing.T) {
	silence := make(chan struct{})
	srv := newRawH2(t, func(s *rawStream) {
		if s.path == "/silence" {
			<-silence // the connection's reader stops: no PING is answered
			return
		}
		s.ok()
	})
	// After newRawH2's cleanup in registration, so before it when run: the
	// server's cleanup waits for the silenced reader.
	t.Cleanup(func() { close(silence) })
	tr := srv.transport()
	tr.HTTP2 = &http.HTTP2Config{SendPingTimeout: 100 * time.Millisecond, PingTimeout: 200 * time.Millisecond}
	defer tr.CloseIdleConnections()
	if _, err := readAll(tr, srv.url()+"/silence"); !errors.Is(err, ferry.ErrHTTP2) {
		t.Errorf("request on the silent connection: err = %v, want ErrHTTP2", err)
	}
	waitFor(t, func() bool { return tr.PoolStats() == ferry.PoolStats{} })
	if body, err := readAll(tr, srv.url()+"/after"); err != nil || body != "ok /after" {
		t.Errorf("next request: %q, %v", body, err)
	}
	if c := srv.conns.Load(); c != 2 {
		t.Errorf("%d connections, want 2", c)
	}
}
