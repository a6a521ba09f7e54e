package ferry_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/origintest"
	"github.com/ferryhttp/ferry/internal/testcert"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// impl is a RoundTripper under test; the behaviour suite runs every case
// against net/http's Transport and ferry's, so a difference is a failure.
type impl struct {
	name string
	new  func(tlsConf *tls.Config) http.RoundTripper
}

var impls = []impl{
	{"nethttp", func(c *tls.Config) http.RoundTripper { return &http.Transport{TLSClientConfig: c} }},
	{"ferry", func(c *tls.Config) http.RoundTripper { return &ferry.Transport{TLSClientConfig: c} }},
}

type seen struct {
	Method, URI, Host string
	Header            map[string]string
}

type exchange struct {
	Status       int
	Body         string
	Header       map[string]string
	Uncompressed bool
	Trailer      string
	Seen         seen
	Conns        int
}

// TestBehaviour compares ferry with net/http case by case: what the caller
// gets and what the server received.
func TestBehaviour(t *testing.T) {
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(s))
		zw.Close()
		return b.Bytes()
	}
	handler := func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/gzip":
			if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(gz("compressed hello"))
				return
			}
			io.WriteString(w, "plain hello")
		case "/trailer":
			w.Header().Set("Trailer", "X-Sum")
			io.WriteString(w, "body")
			w.Header().Set("X-Sum", "42")
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "closing")
		case "/echo-trailer":
			io.ReadAll(r.Body)
			io.WriteString(w, "trailer="+r.Trailer.Get("X-Req-Sum"))
		case "/early-hints":
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, "after hints")
		case "/p":
			b, _ := io.ReadAll(r.Body)
			io.WriteString(w, "got "+string(b))
		default:
			io.WriteString(w, "hello "+r.URL.Path)
		}
	}
	type tcase struct {
		name  string
		req   func(base string) *http.Request
		times int
	}
	get := func(path string) func(string) *http.Request {
		return func(base string) *http.Request { r, _ := http.NewRequest("GET", base+path, nil); return r }
	}
	cases := []tcase{
		{name: "get", req: get("/plain"), times: 3},
		{name: "head", req: func(b string) *http.Request { r, _ := http.NewRequest("HEAD", b+"/plain", nil); return r }, times: 2},
		{name: "post-sized", req: func(b string) *http.Request {
			r, _ := http.NewRequest("POST", b+"/p", strings.NewReader("payload"))
			return r
		}, times: 2},
		{name: "post-chunked", req: func(b string) *http.Request {
			r, _ := http.NewRequest("POST", b+"/p", io.MultiReader(strings.NewReader("chunk"), strings.NewReader("ed")))
			return r
		}, times: 2},
		{name: "gzip-transparent", req: get("/gzip"), times: 2},
		{name: "gzip-caller-asked", req: func(b string) *http.Request {
			r, _ := http.NewRequest("GET", b+"/gzip", nil)
			r.Header.Set("Accept-Encoding", "identity")
			return r
		}, times: 1},
		{name: "gzip-not-with-range", req: func(b string) *http.Request {
			r, _ := http.NewRequest("GET", b+"/gzip", nil)
			r.Header.Set("Range", "bytes=0-3")
			return r
		}, times: 1},
		{name: "response-trailer", req: get("/trailer"), times: 2},
		{name: "request-trailer", req: func(b string) *http.Request {
			pr, pw := io.Pipe()
			go func() { pw.Write([]byte("data")); pw.Close() }()
			r, _ := http.NewRequest("POST", b+"/echo-trailer", pr)
			r.Trailer = http.Header{"X-Req-Sum": {"7"}}
			return r
		}, times: 1},
		{name: "server-closes", req: get("/close"), times: 2},
		{name: "request-closes", req: func(b string) *http.Request {
			r, _ := http.NewRequest("GET", b+"/x", nil)
			r.Close = true
			return r
		}, times: 2},
		{name: "early-hints", req: get("/early-hints"), times: 1},
		{name: "custom-host", req: func(b string) *http.Request {
			r, _ := http.NewRequest("GET", b+"/h", nil)
			r.Host = "example.test"
			return r
		}, times: 1},
		{name: "query-and-escapes", req: get("/a%20b/c?x=1&y=%2F"), times: 1},
	}
	ca, leaf := testcert.MustLocalhost("behaviour CA")
	for _, scheme := range []string{"http", "https"} {
		for _, tc := range cases {
			t.Run(scheme+"/"+tc.name, func(t *testing.T) {
				results := map[string]exchange{}
				for _, im := range impls {
					var cert *tls.Certificate
					if scheme == "https" {
						cert = &leaf
					}
					o := newOrigin(t, cert, handler)
					rt := im.new(&tls.Config{RootCAs: ca.Pool()})
					var ex exchange
					for i := 0; i < tc.times; i++ {
						req := tc.req(o.URL)
						resp, err := rt.RoundTrip(req)
						if err != nil {
							t.Fatalf("%s: %v", im.name, err)
						}
						b, err := io.ReadAll(resp.Body)
						if err != nil {
							t.Fatalf("%s: reading body: %v", im.name, err)
						}
						resp.Body.Close()
						ex.Status, ex.Body, ex.Uncompressed = resp.StatusCode, string(b), resp.Uncompressed
						ex.Trailer = resp.Trailer.Get("X-Sum")
						ex.Header = map[string]string{"Content-Encoding": resp.Header.Get("Content-Encoding"),
							"Content-Length": resp.Header.Get("Content-Length"), "Link": resp.Header.Get("Link")}
						if (scheme == "https") != (resp.TLS != nil) {
							t.Errorf("%s: resp.TLS = %v for %s", im.name, resp.TLS, scheme)
						}
					}
					rs := o.Received()
					last := rs[len(rs)-1]
					host := strings.ReplaceAll(last.Host, o.Listener.Addr().String(), "ORIGIN")
					ex.Seen = seen{Method: last.Method, URI: last.RequestURI, Host: host,
						Header: map[string]string{"Accept-Encoding": last.Header.Get("Accept-Encoding"), "User-Agent": last.Header.Get("User-Agent"),
							"Connection": last.Header.Get("Connection"), "Content-Length": last.Header.Get("Content-Length")}}
					ex.Conns = o.ConnCount()
					results[im.name] = ex
					if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
						c.CloseIdleConnections()
					}
				}
				if diff := cmp.Diff(results["nethttp"], results["ferry"]); diff != "" {
					t.Errorf("ferry differs from net/http (-nethttp +ferry):\n%s", diff)
				}
			})
		}
	}
}

// TestRoundTripperContract: the body is always closed, the request is not
// modified, and a bad request is refused with a typed error.
func TestRoundTripperContract(t *testing.T) {
	o := newOrigin(t, nil, nil)
	tr := &ferry.Transport{}
	defer tr.CloseIdleConnections()

	body := &closeRecorder{Reader: strings.NewReader("x")}
	req, _ := http.NewRequest("POST", o.URL+"/c", body)
	req.Header.Set("X-A", "1")
	before := req.Clone(context.Background())
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !body.closed {
		t.Error("request body not closed")
	}
	if diff := cmp.Diff(before.Header, req.Header); diff != "" || req.Host != before.Host || req.URL.String() != before.URL.String() || req.Close != before.Close {
		t.Errorf("request modified: %s", diff)
	}

	bad := []struct {
		name string
		req  func() *http.Request
	}{
		{"nil-url", func() *http.Request { return &http.Request{Method: "GET", Header: http.Header{}} }},
		{"ftp-scheme", func() *http.Request { r, _ := http.NewRequest("GET", "ftp://127.0.0.1/", nil); return r }},
		{"no-host", func() *http.Request { r, _ := http.NewRequest("GET", "http:///x", nil); return r }},
		{"crlf-value", func() *http.Request {
			r, _ := http.NewRequest("GET", o.URL, nil)
			r.Header["X-Bad"] = []string{"a\r\nInjected: yes"}
			return r
		}},
		{"bad-name", func() *http.Request {
			r, _ := http.NewRequest("GET", o.URL, nil)
			r.Header["Bad Name"] = []string{"x"}
			return r
		}},
		{"bad-method", func() *http.Request { r, _ := http.NewRequest("GET", o.URL, nil); r.Method = "G T"; return r }},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			r := b.req()
			cr := &closeRecorder{Reader: strings.NewReader("")}
			r.Body = cr
			_, err := tr.RoundTrip(r)
			if !errors.Is(err, ferry.ErrInvalidRequest) {
				t.Errorf("err = %v, want ErrInvalidRequest", err)
			}
			if !cr.closed {
				t.Error("body not closed on error")
			}
		})
	}
	if n := len(o.Received()); n != 1 {
		t.Errorf("origin got %d requests, want only the valid one", n)
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// TestReuseAndDrain: the connection goes back to the pool at EOF without
// Close, after Close with a short unread rest, but not with a long one.
func TestReuseAndDrain(t *testing.T) {
	big := strings.Repeat("b", 1<<20)
	o := newOrigin(t, nil, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			io.WriteString(w, big)
			return
		}
		io.WriteString(w, strings.Repeat("s", 1000))
	})
	cases := []struct {
		name      string
		path      string
		read      func(io.ReadCloser)
		wantConns int
	}{
		{"eof-without-close", "/small", func(b io.ReadCloser) { io.ReadAll(b) }, 1},
		{"close-with-short-rest", "/small", func(b io.ReadCloser) { b.Read(make([]byte, 10)); b.Close() }, 1},
		{"close-with-long-rest", "/big", func(b io.ReadCloser) { b.Read(make([]byte, 10)); b.Close() }, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := &ferry.Transport{}
			defer tr.CloseIdleConnections()
			start := o.ConnCount()
			for i := 0; i < 3; i++ {
				resp, err := tr.RoundTrip(mustGet(t, o.URL+tc.path))
				if err != nil {
					t.Fatal(err)
				}
				tc.read(resp.Body)
			}
			if got := o.ConnCount() - start; got != tc.wantConns {
				t.Errorf("connections: %d, want %d", got, tc.wantConns)
			}
		})
	}
}

func mustGet(t testing.TB, url string) *http.Request {
	t.Helper()
	r, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPoolLimits: MaxIdleConnsPerHost, MaxConnsPerHost (a waiting request
// honours its context), IdleConnTimeout, CloseIdleConnections.
func TestPoolLimits(t *testing.T) {
	release := make(chan struct{})
	o := newOrigin(t, nil, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			<-release
		}
		io.WriteString(w, "ok")
	})
	t.Run("max-idle-per-host-default-2", func(t *testing.T) {
		tr := &ferry.Transport{}
		defer tr.CloseIdleConnections()
		var bodies []io.ReadCloser
		for i := 0; i < 4; i++ {
			resp, err := tr.RoundTrip(mustGet(t, o.URL+"/x"))
			if err != nil {
				t.Fatal(err)
			}
			bodies = append(bodies, resp.Body)
		}
		for _, b := range bodies {
			io.ReadAll(b)
			b.Close()
		}
		if s := tr.PoolStats(); s.Idle != 2 || s.Open != 2 {
			t.Errorf("stats %+v, want 2 idle, 2 open", s)
		}
		tr.CloseIdleConnections()
		if s := tr.PoolStats(); s.Idle != 0 || s.Open != 0 {
			t.Errorf("after CloseIdleConnections: %+v", s)
		}
	})
	t.Run("max-conns-per-host-waits", func(t *testing.T) {
		tr := &ferry.Transport{MaxConnsPerHost: 1}
		defer tr.CloseIdleConnections()
		done := make(chan error, 1)
		go func() {
			resp, err := tr.RoundTrip(mustGet(t, o.URL+"/wait"))
			if err == nil {
				io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			done <- err
		}()
		for tr.PoolStats().Open == 0 {
			time.Sleep(time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req := mustGet(t, o.URL+"/x").WithContext(ctx)
		if _, err := tr.RoundTrip(req); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("waiting request: err = %v, want DeadlineExceeded", err)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		resp, err := tr.RoundTrip(mustGet(t, o.URL+"/x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if s := tr.PoolStats(); s.Open != 1 || s.Waits != 0 {
			t.Errorf("stats %+v", s)
		}
	})
	t.Run("idle-conn-timeout", func(t *testing.T) {
		tr := &ferry.Transport{IdleConnTimeout: 50 * time.Millisecond}
		resp, err := tr.RoundTrip(mustGet(t, o.URL+"/x"))
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		deadline := time.Now().Add(2 * time.Second)
		for tr.PoolStats().Open != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if s := tr.PoolStats(); s.Open != 0 {
			t.Errorf("idle connection not closed after IdleConnTimeout: %+v", s)
		}
	})
}

// TestDeadIdleConnRetry: a reused connection the server closed is retried
// for a replayable request, and not for a POST without GetBody.
func TestDeadIdleConnRetry(t *testing.T) {
	o := newOrigin(t, nil, nil)
	killIdle := o.KillIdle
	cases := []struct {
		name    string
		req     func() *http.Request
		wantErr bool
	}{
		{"get", func() *http.Request { return mustGet(t, o.URL+"/r") }, false},
		{"post-with-getbody-idempotency-key", func() *http.Request {
			r, _ := http.NewRequest("POST", o.URL+"/r", strings.NewReader("x"))
			r.Header.Set("Idempotency-Key", "k1")
			return r
		}, false},
		{"post-without-getbody", func() *http.Request {
			r, _ := http.NewRequest("POST", o.URL+"/r", io.NopCloser(strings.NewReader("x")))
			r.ContentLength = 1
			return r
		}, false}, // the liveness peek finds the dead connection before sending
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := &ferry.Transport{}
			defer tr.CloseIdleConnections()
			resp, err := tr.RoundTrip(mustGet(t, o.URL+"/warm"))
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			killIdle()
			resp, err = tr.RoundTrip(tc.req())
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err == nil {
				io.ReadAll(resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// TestCancellationAndTimeouts: every stage ends when the context does, and
// ConnectTimeout / ReadTimeout give a net.Error with Timeout().
func TestCancellationAndTimeouts(t *testing.T) {
	// A listener that accepts and never answers: TLS handshakes and
	// responses hang.
	silent := origintest.HoldConns(t, func(net.Conn) {})
	slowBody := newOrigin(t, nil, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	blockDial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	cases := []struct {
		name    string
		tr      *ferry.Transport
		url     string
		timeout time.Duration // client timeout
		body    bool          // the failure happens while reading the body
		check   func(error) bool
	}{
		{"dial-ctx", &ferry.Transport{DialContext: blockDial}, "http://" + silent, 100 * time.Millisecond, false, isTimeout},
		{"tls-ctx", &ferry.Transport{}, "https://" + silent, 100 * time.Millisecond, false, isTimeout},
		{"headers-ctx", &ferry.Transport{}, "http://" + silent, 100 * time.Millisecond, false, isTimeout},
		{"body-ctx", &ferry.Transport{}, slowBody.URL, 200 * time.Millisecond, true, isTimeout},
		{"connect-timeout", &ferry.Transport{ConnectTimeout: 100 * time.Millisecond}, "https://" + silent, 0, false, isTimeout},
		{"read-timeout", &ferry.Transport{ReadTimeout: 100 * time.Millisecond}, "http://" + silent, 0, false, isTimeout},
		{"read-timeout-body", &ferry.Transport{ReadTimeout: 100 * time.Millisecond}, slowBody.URL, 0, true, isTimeout},
		{"response-header-timeout", &ferry.Transport{ResponseHeaderTimeout: 100 * time.Millisecond}, "http://" + silent, 0, false, isTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := &http.Client{Transport: tc.tr, Timeout: tc.timeout}
			start := time.Now()
			resp, err := client.Get(tc.url)
			if tc.body {
				if err != nil {
					t.Fatal(err)
				}
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if err == nil || !tc.check(err) {
				t.Errorf("err = %v, want a timeout", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
			tc.tr.CloseIdleConnections()
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestBadResponses: garbled, oversized or cut responses give clear errors
// and the connection is discarded.
func TestBadResponses(t *testing.T) {
	cases := []struct {
		name   string
		reply  string
		body   bool // the error shows while reading the body
		wantIs error
	}{
		{name: "garbage-status", reply: "HTTP/1.1 two hundred\r\n\r\n"},
		{name: "not-http", reply: "SSH-2.0-OpenSSH\r\n\r\n"},
		{name: "closed-mid-header", reply: "HTTP/1.1 200 OK\r\nContent-Le"},
		{name: "huge-header", reply: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 100<<10) + "\r\n\r\n", wantIs: ferry.ErrResponseHeaderTooLarge},
		{name: "truncated-body", reply: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", body: true, wantIs: io.ErrUnexpectedEOF},
		{name: "truncated-chunked", reply: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", body: true, wantIs: io.ErrUnexpectedEOF},
		{name: "too-many-1xx", reply: strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", 10) + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawServer(t, tc.reply)
			tr := &ferry.Transport{MaxResponseHeaderBytes: 64 << 10, ReadTimeout: 2 * time.Second}
			resp, err := tr.RoundTrip(mustGet(t, "http://"+addr+"/"))
			if tc.body {
				if err != nil {
					t.Fatalf("headers: %v", err)
				}
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if err == nil {
				t.Fatal("no error")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("err = %v, want %v", err, tc.wantIs)
			}
			if s := tr.PoolStats(); s.Open != 0 || s.Idle != 0 {
				t.Errorf("connection kept after a bad response: %+v", s)
			}
		})
	}
}

// rawServer answers every connection with reply, then closes it.
func rawServer(t *testing.T, reply string) string {
	t.Helper()
	return origintest.ServeConns(t, func(c net.Conn) {
		defer c.Close()
		c.Read(make([]byte, 4096))
		io.WriteString(c, reply)
		time.Sleep(50 * time.Millisecond)
	})
}

// TestTraceHooks: the httptrace hooks net/http users rely on fire.
func TestTraceHooks(t *testing.T) {
	ca, leaf := testcert.MustLocalhost("trace CA")
	o := newOrigin(t, &leaf, func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		w.Header().Set("Link", "</x>")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "ok")
	})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(o.URL, "https://"))
	tr := &ferry.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ExpectContinueTimeout: time.Second}
	defer tr.CloseIdleConnections()
	var mu sync.Mutex
	fired := map[string]int{}
	var reused []bool
	hit := func(n string) { mu.Lock(); fired[n]++; mu.Unlock() }
	trace := &httptrace.ClientTrace{
		GetConn: func(string) { hit("GetConn") },
		GotConn: func(i httptrace.GotConnInfo) {
			hit("GotConn")
			mu.Lock()
			reused = append(reused, i.Reused)
			mu.Unlock()
		},
		DNSStart:             func(httptrace.DNSStartInfo) { hit("DNSStart") },
		DNSDone:              func(httptrace.DNSDoneInfo) { hit("DNSDone") },
		ConnectStart:         func(string, string) { hit("ConnectStart") },
		ConnectDone:          func(string, string, error) { hit("ConnectDone") },
		TLSHandshakeStart:    func() { hit("TLSHandshakeStart") },
		TLSHandshakeDone:     func(tls.ConnectionState, error) { hit("TLSHandshakeDone") },
		WroteHeaders:         func() { hit("WroteHeaders") },
		WroteRequest:         func(httptrace.WroteRequestInfo) { hit("WroteRequest") },
		GotFirstResponseByte: func() { hit("GotFirstResponseByte") },
		Got100Continue:       func() { hit("Got100Continue") },
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			hit("Got1xxResponse")
			return nil
		},
		PutIdleConn: func(err error) {
			if err == nil {
				hit("PutIdleConn")
			}
		},
	}
	for i := 0; i < 2; i++ {
		ctx := httptrace.WithClientTrace(context.Background(), trace)
		req, _ := http.NewRequestWithContext(ctx, "POST", "https://localhost:"+port+"/", strings.NewReader("body"))
		req.Header.Set("Expect", "100-continue")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	want := map[string]int{"GetConn": 2, "GotConn": 2, "DNSStart": 1, "DNSDone": 1, "ConnectStart": 1, "ConnectDone": 1,
		"TLSHandshakeStart": 1, "TLSHandshakeDone": 1, "WroteHeaders": 2, "WroteRequest": 2, "GotFirstResponseByte": 2,
		"Got100Continue": 2, "Got1xxResponse": 4, "PutIdleConn": 2}
	mu.Lock()
	defer mu.Unlock()
	if fired["DNSStart"] > 0 {
		// "localhost" may resolve to two addresses: a connect per address tried.
		want["ConnectStart"], want["ConnectDone"] = fired["ConnectStart"], fired["ConnectDone"]
	}
	if diff := cmp.Diff(want, fired); diff != "" {
		t.Errorf("hooks fired (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]bool{false, true}, reused); diff != "" {
		t.Errorf("GotConn.Reused (-want +got):\n%s", diff)
	}
}

// TestExpectContinue: the body waits for 100 Continue, and is not sent
// when the server answers with a final status first.
func TestExpectContinue(t *testing.T) {
	o := newOrigin(t, nil, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/refuse" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, "got "+string(b))
	})
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			var rt http.RoundTripper
			if im.name == "ferry" {
				rt = &ferry.Transport{ExpectContinueTimeout: 5 * time.Second}
			} else {
				rt = &http.Transport{ExpectContinueTimeout: 5 * time.Second}
			}
			var got []string
			for _, path := range []string{"/ok", "/refuse"} {
				req, _ := http.NewRequest("PUT", o.URL+path, strings.NewReader("payload"))
				req.Header.Set("Expect", "100-continue")
				start := time.Now()
				resp, err := rt.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if time.Since(start) > 2*time.Second {
					t.Errorf("%s waited for ExpectContinueTimeout", path)
				}
				got = append(got, resp.Status+" "+string(b))
			}
			want := []string{"200 OK got payload", "401 Unauthorized "}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestConnInfoThroughClient: ConnInfoOf works through http.Client with and
// without Client.Timeout, and says whether the origin was verified.
func TestConnInfoThroughClient(t *testing.T) {
	ca, leaf := testcert.MustLocalhost("conninfo CA")
	o := newOrigin(t, &leaf, nil)
	for _, c := range []struct {
		name    string
		tr      *ferry.Transport
		timeout time.Duration
		want    ferry.ConnInfo
	}{
		{"verified", &ferry.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}, 0, ferry.ConnInfo{Mode: proxyconfig.Direct, IsVerified: true, Proto: "HTTP/1.1"}},
		{"verified-client-timeout", &ferry.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}, 5 * time.Second, ferry.ConnInfo{Mode: proxyconfig.Direct, IsVerified: true, Proto: "HTTP/1.1"}},
		{"insecure", &ferry.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, 5 * time.Second, ferry.ConnInfo{Mode: proxyconfig.Direct, Proto: "HTTP/1.1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := (&http.Client{Transport: c.tr, Timeout: c.timeout}).Get(o.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got, ok := ferry.ConnInfoOf(resp)
			if !ok {
				t.Fatal("no ConnInfo")
			}
			if diff := cmp.Diff(c.want, got, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".WriteErr" }, cmp.Ignore())); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, ok := ferry.ConnInfoOf(&http.Response{}); ok {
		t.Error("ConnInfoOf of a foreign response reported ok")
	}
}

// TestNoLeaks runs last in this file: after the suite, with idle
// connections closed, goroutines return to the baseline.
func TestNoLeaks(t *testing.T) {
	base := runtime.NumGoroutine()
	o := newOrigin(t, nil, nil)
	tr := &ferry.Transport{}
	for i := 0; i < 20; i++ {
		req, _ := http.NewRequest("POST", o.URL, strings.NewReader("x"))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	tr.CloseIdleConnections()
	o.Close()
	httptest.NewServer(http.NotFoundHandler()).Close()
	checkNoGoroutineLeak(t, base)
}
