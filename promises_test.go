package ferry_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/conn"
	"github.com/ferryhttp/ferry/internal/origintest"
	"github.com/ferryhttp/ferry/internal/proxytest"
)

// TestTunnelDeadlineSpread: many goroutines tunnel to an https origin with
// deadlines spread across the connect stages (dial, TLS to the proxy,
// CONNECT, TLS to the origin, the exchange). Under -race nothing may race or
// crash (a deadline callback once used a conn Connect had just cleared), and
// every failure is the context's deadline.
func TestTunnelDeadlineSpread(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	workers, perWorker := 50, 8
	if testing.Short() {
		workers, perWorker = 20, 4
	}
	for _, proxy := range []string{"http", "https"} {
		t.Run(proxy+"-proxy", func(t *testing.T) {
			tr := w.transport(modeRow{proxy: proxy, target: "https"}, nil)
			tr.DisableKeepAlives = true // every request goes through every stage
			defer tr.CloseIdleConnections()
			origintest.DeadlineSpread(t, tr, w.tlsOrigin.URL+"/spread", workers, perWorker, 2*time.Second)
		})
	}
}

// stallDelay is how long stallServer lets an upload fill the buffers on its way.
const stallDelay = 300 * time.Millisecond

// stallServer answers every request's head with 413 and then neither reads
// nor closes until the test ends: the client's send buffer fills and stays full.
func stallServer(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	return "https://" + origintest.HoldConns(t, func(c net.Conn) {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		if _, err := http.ReadRequest(bufio.NewReader(tc)); err == nil {
			// Let the upload fill every buffer on the way (the client's, a
			// proxy's) before answering.
			time.Sleep(stallDelay)
			io.WriteString(tc, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\n\r\ntoo large")
		}
	})
}

// TestDiscardedTLSConnClosesAtOnce: a TLS connection that is given up (the
// server answered a 64 MiB upload early and stopped reading, or the client's
// timeout fired mid-upload) is closed without waiting on the network: Do and
// Body.Close return at once, directly, through a tunnel and TLS in TLS.
// crypto/tls gives a close_notify up to 5 s; the bound here is 2 s.
func TestDiscardedTLSConnClosesAtOnce(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	origin := stallServer(t, w.leaf)
	payload := make([]byte, 64<<20)
	const bound = 2 * time.Second
	for _, proxy := range []string{"", "http", "https"} {
		for _, how := range []string{"early-413", "client-timeout"} {
			t.Run(fmt.Sprintf("proxy=%q/%s", proxy, how), func(t *testing.T) {
				tr := w.transport(modeRow{proxy: proxy, target: "https"}, nil)
				tr.DialContext = lowWaterDialer().DialContext
				defer tr.CloseIdleConnections()
				client := &http.Client{Transport: tr}
				target := origin + "/upload"
				if how == "client-timeout" {
					// A server that never reads nor answers: only the
					// client's timeout ends the upload.
					client.Timeout = 500 * time.Millisecond
					target = silentTLSOrigin(t, w.leaf) + "/silent"
				}
				// Whether close_notify finds room in a full send buffer is
				// a matter of chance (about half the time): several tries.
				tries := 4
				if testing.Short() {
					tries = 2
				}
				for try := range tries {
					req, _ := http.NewRequest("PUT", target, bytes.NewReader(payload))
					start := time.Now()
					resp, err := client.Do(req)
					doTook := time.Since(start)
					if how == "client-timeout" {
						if err == nil {
							resp.Body.Close()
							t.Fatalf("try %d: got a response from a silent server", try)
						}
						if doTook > client.Timeout+bound {
							t.Errorf("try %d: Do returned %v after Client.Timeout (%v); want under %v", try, (doTook - client.Timeout).Round(time.Millisecond), client.Timeout, bound)
						}
						continue
					}
					if err != nil {
						t.Fatalf("try %d: %v", try, err)
					}
					if resp.StatusCode != http.StatusRequestEntityTooLarge {
						t.Errorf("try %d: status %d, want 413", try, resp.StatusCode)
					}
					if doTook > stallDelay+bound {
						t.Errorf("try %d: Do took %v; the server answered after %v", try, doTook.Round(time.Millisecond), stallDelay)
					}
					start = time.Now()
					io.ReadAll(resp.Body)
					resp.Body.Close()
					if took := time.Since(start); took > bound {
						t.Errorf("try %d: reading and closing the 413's body took %v; want under %v", try, took.Round(time.Millisecond), bound)
					}
				}
			})
		}
	}
}

// silentTLSOrigin completes TLS handshakes and then neither reads nor writes.
func silentTLSOrigin(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	return "https://" + origintest.HoldConns(t, func(c net.Conn) {
		tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}}).Handshake()
	})
}

// TestIdleConnDoesNotHoldUpload: after a 64 MiB upload, the connection that
// carried it waits in the pool without keeping the request alive: the body's
// buffer is collected and the heap returns near where it was.
func TestIdleConnDoesNotHoldUpload(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	sink := newOrigin(t, &w.leaf, func(rw http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(rw, "stored")
	})
	for _, proxy := range []string{"", "http"} {
		t.Run(fmt.Sprintf("proxy=%q", proxy), func(t *testing.T) {
			tr := w.transport(modeRow{proxy: proxy, target: "https"}, nil)
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			target := sink.URL + "/upload"

			before := heapInUse()
			collected := make(chan struct{})
			var pooled error = errors.New("PutIdleConn not called")
			func() {
				payload := make([]byte, 64<<20)
				runtime.AddCleanup(&payload[0], func(ch chan struct{}) { close(ch) }, collected)
				trace := &httptrace.ClientTrace{PutIdleConn: func(err error) { pooled = err }}
				ctx := httptrace.WithClientTrace(context.Background(), trace)
				req, _ := http.NewRequestWithContext(ctx, "PUT", target, bytes.NewReader(payload))
				req.Header.Set("X-Caller", "header map of the caller")
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.ReadAll(resp.Body)
				resp.Body.Close()
			}()
			if pooled != nil {
				t.Fatalf("the connection did not go idle: %v", pooled)
			}
			if !waitGone(collected) {
				t.Error("the upload's buffer is still reachable while its connection is idle")
			}
			after := heapInUse()
			t.Logf("heap in use: %.1f MiB before the upload, %.1f MiB with the connection idle", mib(before), mib(after))
			if after > before+16<<20 {
				t.Errorf("heap in use grew by %.1f MiB and stays there while the connection is idle", mib(after-before))
			}
			// The connection is still the pool's: the next request reuses it.
			resp, err := client.Get(sink.URL + "/again")
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
			if info, _ := ferry.ConnInfoOf(resp); !info.Reused {
				t.Error("the idle connection was not reused")
			}
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// waitGone runs the GC until the cleanup closes ch, for a bounded time.
func waitGone(ch chan struct{}) bool {
	for range 100 {
		runtime.GC()
		select {
		case <-ch:
			return true
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

// TestClosedWithoutAnswer: a server that closes a fresh connection without
// answering gives an error that is io.EOF through *url.Error, as net/http's.
func TestClosedWithoutAnswer(t *testing.T) {
	addr := origintest.ServeConns(t, func(c net.Conn) {
		defer c.Close()
		http.ReadRequest(bufio.NewReader(c))
	})
	for name, rt := range map[string]http.RoundTripper{"ferry": &ferry.Transport{}, "nethttp": &http.Transport{}} {
		t.Run(name, func(t *testing.T) {
			_, err := (&http.Client{Transport: rt}).Get("http://" + addr + "/")
			var ue *url.Error
			if !errors.As(err, &ue) || !errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("err = %v, want *url.Error wrapping io.EOF", err)
			}
		})
	}
}

// TestVerifiedChainsInResponse: resp.TLS.VerifiedChains holds the chain ferry
// verified, directly, through a tunnel and TLS in TLS; ConnInfo.ProxyTLS
// holds the proxy's.
func TestVerifiedChainsInResponse(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	for _, proxy := range []string{"", "http", "https"} {
		t.Run(fmt.Sprintf("proxy=%q", proxy), func(t *testing.T) {
			tr := w.transport(modeRow{proxy: proxy, target: "https"}, nil)
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get(w.tlsOrigin.URL + "/chains")
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
			checkChain(t, "resp.TLS", resp.TLS, w)
			info, _ := ferry.ConnInfoOf(resp)
			if proxy == "https" {
				checkChain(t, "ConnInfo.ProxyTLS", info.ProxyTLS, w)
			}
		})
	}
}

func checkChain(t *testing.T, what string, st *tls.ConnectionState, w *world) {
	t.Helper()
	if st == nil {
		t.Fatalf("%s is nil", what)
	}
	if len(st.VerifiedChains) == 0 {
		t.Fatalf("%s.VerifiedChains is empty", what)
	}
	chain := st.VerifiedChains[0]
	if !chain[0].Equal(st.PeerCertificates[0]) || !chain[len(chain)-1].Equal(w.ca.Cert) {
		t.Errorf("%s: chain from %q to %q, want the peer's leaf to the test CA", what, chain[0].Subject, chain[len(chain)-1].Subject)
	}
}

// TestProxyErrorHoldsNoPassword: the ProxyError a refused CONNECT gives names
// the proxy (scheme, user, host, port) but never its password.
func TestProxyErrorHoldsNoPassword(t *testing.T) {
	w := newWorld(t, proxytest.Options{Fault: proxytest.Fault{Kind: proxytest.RefuseConnect}})
	tr := w.transport(modeRow{proxy: "http", target: "https"}, url.UserPassword("alice", "s3cret"))
	defer tr.CloseIdleConnections()
	_, err := (&http.Client{Transport: tr}).Get(w.tlsOrigin.URL + "/")
	var pe *ferry.ProxyError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *ProxyError", err)
	}
	want := "http://alice:xxxxx@" + w.httpProxy.URL().Host
	if got := fmt.Sprint(pe.Proxy); got != want {
		t.Errorf("ProxyError.Proxy = %q, want %q", got, want)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error leaks the password: %v", err)
	}
}

// TestConnectTimeoutThroughTransport: the Transport's ConnectTimeout gives a
// *conn.TimeoutError that names the stage, inside the *ProxyError when the
// proxy is the one that did not answer; the request's own deadline gives
// context.DeadlineExceeded.
func TestConnectTimeoutThroughTransport(t *testing.T) {
	silent := origintest.ServeConns(t, func(c net.Conn) {
		defer c.Close()
		time.Sleep(3 * time.Second)
	})
	cases := []struct {
		name       string
		proxy      bool
		ctxLimit   bool
		wantStage  string
		wantProxy  bool
		wantCtxErr bool
	}{
		{name: "direct/tls", wantStage: "TLS handshake"},
		{name: "proxy/connect", proxy: true, wantStage: "CONNECT", wantProxy: true},
		{name: "direct/tls/request-deadline", ctxLimit: true, wantCtxErr: true},
		{name: "proxy/connect/request-deadline", proxy: true, ctxLimit: true, wantCtxErr: true, wantProxy: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := &ferry.Transport{ConnectTimeout: 200 * time.Millisecond}
			if tc.proxy {
				tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: silent})
			}
			defer tr.CloseIdleConnections()
			ctx := context.Background()
			if tc.ctxLimit {
				tr.ConnectTimeout = time.Minute
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
				defer cancel()
			}
			target := "https://" + silent + "/"
			if tc.proxy {
				target = "https://127.0.0.1:9/"
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", target, nil)
			_, err := (&http.Client{Transport: tr}).Do(req)
			var te *conn.TimeoutError
			gotStage := ""
			if errors.As(err, &te) {
				gotStage = te.Stage
				if te.Setting != "ConnectTimeout" || te.Limit != tr.ConnectTimeout {
					t.Errorf("TimeoutError names %s %v, want ConnectTimeout %v", te.Setting, te.Limit, tr.ConnectTimeout)
				}
			}
			if gotStage != tc.wantStage {
				t.Errorf("err = %v: stage %q, want %q", err, gotStage, tc.wantStage)
			}
			if got := errors.As(err, new(*ferry.ProxyError)); got != tc.wantProxy {
				t.Errorf("err = %v: ProxyError %v, want %v", err, got, tc.wantProxy)
			}
			if got := errors.Is(err, context.DeadlineExceeded); tc.wantCtxErr && !got {
				t.Errorf("err = %v, want context.DeadlineExceeded", err)
			}
		})
	}
}

// TestBodyCloseDuringRead: closing a response body while another goroutine
// is blocked reading it stops that read at once, over TLS too, and (under
// -race) the connection is not cleared under the reader's feet.
func TestBodyCloseDuringRead(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow := newOrigin(t, &w.leaf, func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Length", "100")
		io.WriteString(rw, "first")
		rw.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	for _, proxy := range []string{"", "https"} {
		t.Run(fmt.Sprintf("proxy=%q", proxy), func(t *testing.T) {
			tr := w.transport(modeRow{proxy: proxy, target: "https"}, nil)
			tr.ReadTimeout = 10 * time.Second
			defer tr.CloseIdleConnections()
			for try := range 5 {
				resp, err := (&http.Client{Transport: tr}).Get(slow.URL + "/slow")
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 5)
				if _, err := io.ReadFull(resp.Body, buf); err != nil {
					t.Fatal(err)
				}
				readErr := make(chan error, 1)
				go func() {
					_, err := resp.Body.Read(make([]byte, 10))
					readErr <- err
				}()
				time.Sleep(time.Duration(try) * 10 * time.Millisecond)
				start := time.Now()
				resp.Body.Close()
				select {
				case err := <-readErr:
					if err == nil {
						t.Errorf("try %d: the read returned no error", try)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("try %d: the read is still blocked after Close", try)
				}
				if took := time.Since(start); took > 2*time.Second {
					t.Errorf("try %d: Close and the read's return took %v", try, took)
				}
			}
		})
	}
}

// TestConnectHookSees407: a program migrated from net/http that reacts to a
// 407 in OnProxyConnectResponse keeps working: the hook sees the refusal,
// and the request still fails with the ProxyError (or the hook's error).
func TestConnectHookSees407(t *testing.T) {
	w := newWorld(t, proxytest.Options{Auth: "alice:s3cret"})
	hookErr := errors.New("ask the user for a password")
	for _, failHook := range []bool{false, true} {
		t.Run(fmt.Sprintf("hook-error=%v", failHook), func(t *testing.T) {
			tr := w.transport(modeRow{proxy: "http", target: "https"}, nil)
			defer tr.CloseIdleConnections()
			var seen []int
			tr.OnProxyConnectResponse = func(ctx context.Context, p *url.URL, req *http.Request, res *http.Response) error {
				seen = append(seen, res.StatusCode)
				if failHook && res.StatusCode == http.StatusProxyAuthRequired {
					return hookErr
				}
				return nil
			}
			_, err := (&http.Client{Transport: tr}).Get(w.tlsOrigin.URL + "/")
			if len(seen) != 1 || seen[0] != http.StatusProxyAuthRequired {
				t.Errorf("the hook saw %v, want [407]", seen)
			}
			var pe *ferry.ProxyError
			if !errors.As(err, &pe) || pe.StatusCode != http.StatusProxyAuthRequired {
				t.Fatalf("err = %v, want a *ProxyError with status 407", err)
			}
			if got := errors.Is(err, hookErr); got != failHook {
				t.Errorf("err = %v: the hook's error %v, want %v", err, got, failHook)
			}
			if got := errors.Is(err, ferry.ErrConnectRefused); got == failHook {
				t.Errorf("err = %v: ErrConnectRefused %v, want %v", err, got, !failHook)
			}
		})
	}
}
