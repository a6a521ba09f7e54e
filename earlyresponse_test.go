package ferry_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/conn"
	"github.com/ferryhttp/ferry/internal/proxytest"
)

const uploadSize = 32 << 20

// drainLimit is how much of the upload the "drain" server reads after its
// answer: far below uploadSize less what loopback socket buffers can hold.
const drainLimit = 1 << 20

// earlyServer answers every request after reading only its head, in one of
// the ways a real server refuses an upload.
type earlyServer struct {
	ln       net.Listener
	behavior string // "rst", "drain", "stall", "full", "reset-silent"
	tlsConf  *tls.Config
	accepts  atomic.Int32
	wg       sync.WaitGroup
	mu       sync.Mutex
	open     []net.Conn
}

func newEarlyServer(t *testing.T, behavior string, tlsConf ...*tls.Config) *earlyServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &earlyServer{ln: ln, behavior: behavior}
	if len(tlsConf) > 0 {
		s.tlsConf = tlsConf[0]
	}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *earlyServer) url() string {
	if s.tlsConf != nil {
		return "https://" + s.ln.Addr().String() + "/upload"
	}
	return "http://" + s.ln.Addr().String() + "/upload"
}

func (s *earlyServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepts.Add(1)
		s.mu.Lock()
		s.open = append(s.open, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if s.tlsConf != nil {
				c = tls.Server(c, s.tlsConf)
			}
			s.handle(c)
		}()
	}
}

const answer413 = "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large"

func (s *earlyServer) handle(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	switch s.behavior {
	case "rst": // answer, then close with unread data: the peer sees RST
		io.WriteString(c, answer413)
	case "drain": // answer, half-close, read a bounded amount for a while, close
		// Like net/http's server, which discards at most 256 KiB of an
		// unread body before closing: the drain is bounded in bytes as well
		// as time, so the 32 MiB upload can never be read whole (it once was,
		// on a fast machine, within the 200 ms) and the client always meets
		// the reset.
		io.WriteString(c, answer413)
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		io.Copy(io.Discard, io.LimitReader(br, drainLimit))
	case "stall": // answer and stop reading, socket left open
		io.WriteString(c, answer413)
		time.Sleep(3 * time.Second)
	case "full": // read everything, then answer 200 (keep-alive)
		for {
			n, _ := io.Copy(io.Discard, req.Body)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			_ = n
			req, err = http.ReadRequest(br)
			if err != nil {
				return
			}
		}
	case "reset-silent": // reset without answering
		c.(*net.TCPConn).SetLinger(0)
	}
}

// trackingBody is a request body that records reads made after RoundTrip
// returned, and whether it was closed.
type trackingBody struct {
	r         io.Reader
	returned  atomic.Bool
	lateReads atomic.Int32
	closed    atomic.Bool
}

func (b *trackingBody) Read(p []byte) (int, error) {
	if b.returned.Load() {
		b.lateReads.Add(1)
	}
	return b.r.Read(p)
}

func (b *trackingBody) Close() error { b.closed.Store(true); return nil }

func iterations() int {
	if testing.Short() {
		return 5
	}
	return 30
}

// TestEarlyResponse: ferry returns the server's early 413 every time, for
// each way a server can refuse an upload, with a sized and a chunked body.
func TestEarlyResponse(t *testing.T) {
	payload := bytes.Repeat([]byte("x"), uploadSize)
	for _, behavior := range []string{"rst", "drain", "stall"} {
		for _, chunked := range []bool{false, true} {
			name := behavior
			n := iterations()
			if chunked {
				name += "/chunked"
				n = 1
			}
			t.Run(name, func(t *testing.T) {
				srv := newEarlyServer(t, behavior)
				tr := &ferry.Transport{ReadTimeout: 10 * time.Second}
				defer tr.CloseIdleConnections()
				got := 0
				for i := 0; i < n; i++ {
					body := &trackingBody{r: bytes.NewReader(payload)}
					req, _ := http.NewRequest("PUT", srv.url(), body)
					if !chunked {
						req.ContentLength = uploadSize
					}
					start := time.Now()
					resp, err := tr.RoundTrip(req)
					body.returned.Store(true)
					if err != nil {
						t.Errorf("try %d: %v", i, err)
						continue
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					info, _ := ferry.ConnInfoOf(resp)
					if resp.StatusCode == 413 && string(b) == "too large" && resp.Close && info.WriteErr != nil {
						got++
					} else {
						t.Errorf("try %d: status %d body %q Close %v WriteErr %v", i, resp.StatusCode, b, resp.Close, info.WriteErr)
					}
					if !body.closed.Load() {
						t.Errorf("try %d: request body not closed", i)
					}
					time.Sleep(time.Millisecond)
					if late := body.lateReads.Load(); late != 0 {
						t.Errorf("try %d: request body read %d times after RoundTrip returned", i, late)
					}
					if d := time.Since(start); d > 5*time.Second {
						t.Errorf("try %d took %v", i, d)
					}
				}
				time.Sleep(10 * time.Millisecond)
				if got != n {
					t.Errorf("got the 413 %d of %d times", got, n)
				}
				if a := srv.accepts.Load(); int(a) != n {
					t.Errorf("server accepted %d connections for %d requests: a connection was reused after an early answer", a, n)
				}
			})
		}
	}
}

// TestNoFalseEarlyResponse: a server that reads everything gets the whole
// body, answers 200, and the connection is reused.
func TestNoFalseEarlyResponse(t *testing.T) {
	srv := newEarlyServer(t, "full")
	tr := &ferry.Transport{}
	defer tr.CloseIdleConnections()
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest("PUT", srv.url(), bytes.NewReader(make([]byte, 4<<20)))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		info, _ := ferry.ConnInfoOf(resp)
		if resp.StatusCode != 200 || info.WriteErr != nil {
			t.Fatalf("status %d WriteErr %v", resp.StatusCode, info.WriteErr)
		}
	}
	if a := srv.accepts.Load(); a != 1 {
		t.Errorf("server accepted %d connections, want 1", a)
	}
}

// TestResetWithoutAnswer: no response to return, so the write error comes
// back, wrapped, reachable with errors.Is through http.Client.
func TestResetWithoutAnswer(t *testing.T) {
	srv := newEarlyServer(t, "reset-silent")
	client := &http.Client{Transport: &ferry.Transport{ReadTimeout: 5 * time.Second}}
	_, err := client.Post(srv.url(), "application/octet-stream", bytes.NewReader(make([]byte, uploadSize)))
	if err == nil {
		t.Fatal("no error")
	}
	var we *conn.WriteError
	if !errors.As(err, &we) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("err = %v (%T), want *conn.WriteError or ECONNRESET", err, err)
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Errorf("err = %v: EPIPE/ECONNRESET not reachable with errors.Is", err)
	}
}

// TestEarlyResponseThroughProxy: the early answer comes back in forward mode
// (relayed by the proxy) and in tunnel mode (from a TLS origin through the tunnel).
func TestEarlyResponseThroughProxy(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	for _, behavior := range []string{"rst", "stall"} {
		for _, mode := range []string{"forward", "tunnel"} {
			t.Run(behavior+"/"+mode, func(t *testing.T) {
				var conf []*tls.Config
				if mode == "tunnel" {
					conf = append(conf, &tls.Config{Certificates: []tls.Certificate{w.leaf}})
				}
				srv := newEarlyServer(t, behavior, conf...)
				tr := &ferry.Transport{ReadTimeout: 10 * time.Second, Proxy: http.ProxyURL(w.httpProxy.URL()),
					TLSClientConfig: &tls.Config{RootCAs: w.ca.Pool()}}
				defer tr.CloseIdleConnections()
				n := iterations() / 3
				for i := 0; i < n; i++ {
					req, _ := http.NewRequest("PUT", srv.url(), bytes.NewReader(make([]byte, uploadSize)))
					resp, err := tr.RoundTrip(req)
					if err != nil {
						t.Fatalf("try %d: %v", i, err)
					}
					io.ReadAll(resp.Body)
					resp.Body.Close()
					info, _ := ferry.ConnInfoOf(resp)
					if resp.StatusCode != 413 || info.Mode.String() != mode {
						t.Errorf("try %d: status %d mode %v, want 413 %s", i, resp.StatusCode, info.Mode, mode)
					}
				}
			})
		}
	}
}

// TestEarlyResponseReportNetHTTP runs the same cases against http.Transport
// and logs how often it returned the 413, for the README. No assertion: the
// count varies from run to run.
func TestEarlyResponseReportNetHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("report only")
	}
	payload := bytes.Repeat([]byte("x"), uploadSize)
	for _, behavior := range []string{"rst", "drain", "stall"} {
		srv := newEarlyServer(t, behavior)
		counts := map[string]int{}
		for name, rt := range map[string]http.RoundTripper{"ferry": &ferry.Transport{}, "net/http": &http.Transport{}} {
			for i := 0; i < iterations(); i++ {
				req, _ := http.NewRequest("PUT", srv.url(), bytes.NewReader(payload))
				resp, err := rt.RoundTrip(req)
				if err == nil {
					if resp.StatusCode == 413 {
						counts[name]++
					}
					resp.Body.Close()
				}
			}
		}
		t.Logf("%-6s 413 received: ferry %d/%d, net/http %d/%d", behavior, counts["ferry"], iterations(), counts["net/http"], iterations())
	}
}
