package ferry_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/origintest"
	"github.com/ferryhttp/ferry/internal/proxytest"
)

var soakFor = flag.Duration("soak", 15*time.Second, "how long TestFaultSoak runs")

// faultyHandler answers at random: well (with a checksum of the body), by
// resetting mid-response, with a truncated body, slowly, or early (413)
// during uploads. It counts requests per X-Req-Id to catch replays.
type faultyHandler struct {
	mu     sync.Mutex
	byID   map[string]int
	faults map[string]int
}

func (h *faultyHandler) note(kind string) {
	h.mu.Lock()
	h.faults[kind]++
	h.mu.Unlock()
}

func (h *faultyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.byID[r.Header.Get("X-Req-Id")]++
	h.mu.Unlock()
	body := bytes.Repeat([]byte(r.URL.Path), 1+rand.IntN(2000))
	sum := sha256.Sum256(body)
	switch n := rand.IntN(100); {
	case n < 5: // reset mid-response
		h.note("reset-mid-response")
		c, bw, err := w.(http.Hijacker).Hijack()
		if err == nil {
			bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial")
			bw.Flush()
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0) // the peer sees RST
			}
			c.Close()
		}
		return
	case n < 10: // truncated Content-Length body
		h.note("truncated-body")
		c, bw, err := w.(http.Hijacker).Hijack()
		if err == nil {
			fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Sum: %x\r\n\r\n", len(body), sum)
			bw.Write(body[:len(body)/2])
			bw.Flush()
			c.Close()
		}
		return
	case n < 15: // truncated chunked body
		h.note("truncated-chunked")
		c, bw, err := w.(http.Hijacker).Hijack()
		if err == nil {
			fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s", len(body), body[:len(body)/2])
			bw.Flush()
			c.Close()
		}
		return
	case n < 20:
		h.note("slow")
		time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
	case n < 28 && r.ContentLength != 0:
		h.note("early-413")
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	io.Copy(io.Discard, r.Body)
	w.Header().Set("X-Sum", hex.EncodeToString(sum[:]))
	w.Write(body)
}

// openFDs counts this process's open sockets. Pipes are left out: Go keeps
// a pool of splice pipes (io.Copy between TCP connections in the proxy) that
// it frees at garbage collection, which is not a leak.
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	n := 0
	for _, e := range ents {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

// TestFaultSoak sends requests from many goroutines directly, through a
// forward proxy and through tunnels (one proxy misbehaving at random) to
// servers that misbehave at random. Every success must carry the right
// body, every failure must be of the right kind, non-replayable requests must
// never be sent twice, and nothing may leak.
func TestFaultSoak(t *testing.T) {
	d := *soakFor
	if testing.Short() {
		d = 3 * time.Second
	}
	baseG, baseFD := runtime.NumGoroutine(), openFDs()
	h := &faultyHandler{byID: map[string]int{}, faults: map[string]int{}}
	w := newWorld(t, proxytest.Options{})
	// The plain origin closes idle keep-alive connections quickly.
	plain := origintest.New(t, origintest.Options{
		Handler:   h.ServeHTTP,
		Configure: func(s *http.Server) { s.IdleTimeout = 20 * time.Millisecond },
	})
	secure := newOrigin(t, &w.leaf, h.ServeHTTP)
	faulty := startProxy(t, proxytest.Options{})

	newTransport := func(p *proxytest.Proxy) *ferry.Transport {
		tr := &ferry.Transport{TLSClientConfig: &tls.Config{RootCAs: w.ca.Pool()}, ReadTimeout: 5 * time.Second, ConnectTimeout: 5 * time.Second}
		if p != nil {
			tr.Proxy = http.ProxyURL(p.URL())
		}
		return tr
	}
	routes := []struct {
		name   string
		tr     *ferry.Transport
		target string
		faulty bool
	}{
		{"direct", newTransport(nil), plain.URL, false},
		{"direct-tls", newTransport(nil), secure.URL, false},
		{"forward", newTransport(w.httpProxy), plain.URL, false},
		{"tunnel", newTransport(w.httpProxy), secure.URL, false},
		{"tunnel-faulty-proxy", newTransport(faulty), secure.URL, true},
	}

	stopFaults := make(chan struct{})
	var faultWG sync.WaitGroup
	faultWG.Add(1)
	go func() {
		defer faultWG.Done()
		kinds := []proxytest.Fault{{}, {}, {Kind: proxytest.RefuseConnect, Status: 407}, {Kind: proxytest.RefuseConnect, Status: 502},
			{Kind: proxytest.Garbage}, {Kind: proxytest.CloseMidReply}, {Kind: proxytest.CloseBeforeReply}}
		for {
			select {
			case <-stopFaults:
				return
			case <-time.After(5 * time.Millisecond):
				faulty.SetFault(kinds[rand.IntN(len(kinds))])
				for _, r := range routes {
					if r.faulty && rand.IntN(4) == 0 {
						r.tr.CloseIdleConnections() // new tunnels meet the new fault
					}
				}
			}
		}
	}()

	var requests, ok, early, bad atomic.Int64
	var emu sync.Mutex
	errKinds := map[string]int{}
	var nonReplayable sync.Map
	var idSeq atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000 && time.Now().Before(deadline); i++ {
				r := routes[rand.IntN(len(routes))]
				id := strconv.FormatInt(idSeq.Add(1), 10)
				var req *http.Request
				switch rand.IntN(3) {
				case 0:
					req, _ = http.NewRequest("GET", r.target+"/g"+id, nil)
				case 1: // replayable POST
					req, _ = http.NewRequest("POST", r.target+"/p"+id, bytes.NewReader(make([]byte, rand.IntN(64<<10))))
					req.Header.Set("Idempotency-Key", id)
				default: // non-replayable POST: no GetBody
					req, _ = http.NewRequest("POST", r.target+"/n"+id, io.NopCloser(bytes.NewReader(make([]byte, 1+rand.IntN(64<<10)))))
					req.GetBody = nil
					nonReplayable.Store(id, true)
				}
				req.Header.Set("X-Req-Id", id)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				requests.Add(1)
				resp, err := r.tr.RoundTrip(req.WithContext(ctx))
				if err == nil {
					b, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					switch {
					case resp.StatusCode == http.StatusRequestEntityTooLarge:
						early.Add(1)
					case rerr != nil:
						err = rerr
					case resp.StatusCode == http.StatusBadGateway && r.name == "forward":
						// The proxy's own answer to an origin that reset: a
						// response, as in net/http and urllib3.
						emu.Lock()
						errKinds["forward: proxy 502"]++
						emu.Unlock()
					case resp.StatusCode != 200:
						bad.Add(1)
						t.Errorf("%s: status %d", r.name, resp.StatusCode)
					default:
						sum := sha256.Sum256(b)
						if hex.EncodeToString(sum[:]) != resp.Header.Get("X-Sum") {
							bad.Add(1)
							t.Errorf("%s: body of %d bytes does not match its checksum", r.name, len(b))
						} else {
							ok.Add(1)
						}
					}
				}
				cancel()
				if err != nil {
					var pe *ferry.ProxyError
					kind := "origin/network"
					if errors.As(err, &pe) {
						kind = "proxy"
						if !r.faulty {
							t.Errorf("%s: ProxyError from a healthy proxy: %v", r.name, err)
						}
					}
					emu.Lock()
					errKinds[r.name+": "+kind]++
					emu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(stopFaults)
	faultWG.Wait()

	h.mu.Lock()
	for id, n := range h.byID {
		if _, nr := nonReplayable.Load(id); nr && n > 1 {
			t.Errorf("non-replayable request %s reached the origin %d times", id, n)
		}
	}
	faults := fmt.Sprint(h.faults)
	h.mu.Unlock()

	for _, r := range routes {
		r.tr.CloseIdleConnections()
		if s := r.tr.PoolStats(); s.Open != 0 || s.Idle != 0 {
			t.Errorf("%s: pool not empty after CloseIdleConnections: %+v", r.name, s)
		}
	}
	var kinds []string
	for k, n := range errKinds {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(kinds)
	t.Logf("soak %v: %d requests, %d ok with checksums, %d early 413, %d bad; origin faults %s; errors %v",
		d, requests.Load(), ok.Load(), early.Load(), bad.Load(), faults, kinds)
	if ok.Load() == 0 {
		t.Error("no request succeeded")
	}

	plain.Close()
	secure.Close()
	w.httpProxy.Close()
	faulty.Close()
	checkNoGoroutineLeak(t, baseG+8)
	deadlineFD := time.Now().Add(3 * time.Second)
	for openFDs() > baseFD+4 && time.Now().Before(deadlineFD) {
		time.Sleep(20 * time.Millisecond)
	}
	// newWorld's two origins and its TLS proxy still listen until cleanup.
	if n := openFDs(); n > baseFD+4 {
		ents, _ := os.ReadDir("/proc/self/fd")
		var what []string
		for _, e := range ents {
			l, _ := os.Readlink("/proc/self/fd/" + e.Name())
			what = append(what, l)
		}
		t.Errorf("open file descriptors: %d, baseline %d: %v", n, baseFD, what)
	}
}

// TestHeaderTrickle: a server that sends its header one byte at a time is
// cut off by ReadTimeout (a gap longer than it) or ResponseHeaderTimeout (the
// whole header taking longer), bounded in time.
func TestHeaderTrickle(t *testing.T) {
	gap := make(chan time.Duration, 2) // one per case, in order; the cases connect one after another
	addr := origintest.ServeConns(t, func(c net.Conn) {
		defer c.Close()
		g := <-gap
		c.Read(make([]byte, 4096))
		for _, b := range []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") {
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(g)
		}
	})
	cases := []struct {
		name string
		gap  time.Duration
		tr   *ferry.Transport
	}{
		{"read-timeout", time.Second, &ferry.Transport{ReadTimeout: 300 * time.Millisecond}},
		{"response-header-timeout", 50 * time.Millisecond, &ferry.Transport{ReadTimeout: 300 * time.Millisecond, ResponseHeaderTimeout: 500 * time.Millisecond}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gap <- tc.gap
			start := time.Now()
			_, err := tc.tr.RoundTrip(mustGet(t, "http://"+addr+"/"))
			if !isTimeout(err) {
				t.Errorf("err = %v, want a timeout", err)
			}
			if d := time.Since(start); d > 1500*time.Millisecond {
				t.Errorf("took %v", d)
			}
		})
	}
}
