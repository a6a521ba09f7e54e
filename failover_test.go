package ferry_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/origintest"
	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/internal/testcert"
	"github.com/ferryhttp/ferry/verify"
)

// closedPort returns the URL of a loopback port nobody listens on: dialling
// it is refused at once.
func closedPort(t testing.TB, scheme string) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return &url.URL{Scheme: scheme, Host: addr}
}

// silentProxy accepts connections, reads whatever comes and never answers:
// a TLS handshake or a CONNECT to it never completes.
func silentProxy(t testing.TB, scheme string) *url.URL {
	t.Helper()
	addr := origintest.ServeConns(t, func(c net.Conn) {
		defer c.Close()
		io.Copy(io.Discard, c)
	})
	return &url.URL{Scheme: scheme, Host: addr}
}

// untrustedProxy is a working https proxy whose certificate comes from a CA
// the client does not trust.
func untrustedProxy(t testing.TB) *proxytest.Proxy {
	t.Helper()
	_, leaf := testcert.MustLocalhost("a CA nobody trusts")
	return startProxy(t, proxytest.Options{TLS: &tls.Config{Certificates: []tls.Certificate{leaf}}})
}

// dialCounter counts dials per address.
type dialCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (d *dialCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	if d.n == nil {
		d.n = map[string]int{}
	}
	d.n[addr]++
	d.mu.Unlock()
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func (d *dialCounter) count(u *url.URL) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n[u.Host]
}

func listOf(us ...*url.URL) func(*http.Request) ([]*url.URL, error) {
	return func(*http.Request) ([]*url.URL, error) { return us, nil }
}

func (w *world) listTransport(us ...*url.URL) *ferry.Transport {
	return &ferry.Transport{
		ProxyList:            listOf(us...),
		TLSClientConfig:      &tls.Config{RootCAs: w.ca.Pool()},
		ProxyTLSClientConfig: &tls.Config{RootCAs: w.ca.Pool()},
		ConnectTimeout:       500 * time.Millisecond,
	}
}

func get(t *testing.T, tr *ferry.Transport, target string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest("GET", target, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// TestFailoverToWorkingProxy walks past each kind of dead proxy, in one
// list, to the one that works; every target scheme and both modes.
func TestFailoverToWorkingProxy(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	refused := closedPort(t, "http")
	silentTLS := silentProxy(t, "https") // TLS handshake never completes
	silentHTTP := silentProxy(t, "http") // CONNECT never answered
	untrusted := untrustedProxy(t).URL() // certificate not trusted
	closing := startProxy(t, proxytest.Options{Fault: proxytest.Fault{Kind: proxytest.CloseBeforeReply}}).URL()

	for _, target := range []string{w.httpOrigin.URL, w.tlsOrigin.URL} {
		t.Run(target[:5], func(t *testing.T) {
			w.httpProxy.Reset()
			list := []*url.URL{refused, silentTLS, untrusted, w.httpProxy.URL()}
			if strings.HasPrefix(target, "https") {
				// Only a tunnel waits for a CONNECT reply.
				list = []*url.URL{refused, silentTLS, silentHTTP, closing, untrusted, w.httpProxy.URL()}
			}
			resp, err := get(t, w.listTransport(list...), target+"/x")
			if err != nil {
				t.Fatal(err)
			}
			info, _ := ferry.ConnInfoOf(resp)
			if info.Proxy == nil || info.Proxy.Host != w.httpProxy.URL().Host {
				t.Errorf("served by %v, want %v", info.Proxy, w.httpProxy.URL())
			}
			var skipped []string
			for _, s := range info.Skipped {
				skipped = append(skipped, s.Proxy.String())
			}
			var want []string
			for _, u := range list[:len(list)-1] {
				want = append(want, u.String())
			}
			if diff := cmp.Diff(want, skipped); diff != "" {
				t.Errorf("Skipped (-want +got):\n%s", diff)
			}
			if got := info.Skipped; len(got) > 0 {
				var pe *ferry.ProxyError
				for _, s := range got {
					if !errors.As(s.Err, &pe) {
						t.Errorf("%v: %v is not a *ProxyError", s.Proxy, s.Err)
					}
				}
				if !errors.Is(got[0].Err, syscall.ECONNREFUSED) {
					t.Errorf("first skip: %v, want ECONNREFUSED", got[0].Err)
				}
				if errors.As(got[1].Err, &pe) && !pe.Timeout() {
					t.Errorf("silent TLS proxy: %v, want a timeout", got[1].Err)
				}
				var cve *tls.CertificateVerificationError
				if !errors.As(got[len(got)-1].Err, &cve) {
					t.Errorf("untrusted proxy: %v, want *tls.CertificateVerificationError", got[len(got)-1].Err)
				}
			}
			if n := len(w.httpProxy.Requests()); n != 1 {
				t.Errorf("working proxy got %d requests, want 1", n)
			}
		})
	}
}

// TestNoFailover: failures where the proxy answered on purpose, where the
// request may have reached it, or that are the target's, end the request
// with that error; the next entry is never contacted.
func TestNoFailover(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	_, otherLeaf := testcert.MustLocalhost("origin CA nobody trusts")
	untrustedOrigin := newOrigin(t, &otherLeaf, nil)
	refuse := func(status int) *url.URL {
		return startProxy(t, proxytest.Options{Fault: proxytest.Fault{Kind: proxytest.RefuseConnect, Status: status}}).URL()
	}
	garbage := startProxy(t, proxytest.Options{Fault: proxytest.Fault{Kind: proxytest.Garbage}}).URL()
	authProxy := startProxy(t, proxytest.Options{Auth: "u:p"}).URL()

	cases := []struct {
		name   string
		first  *url.URL
		target string
		check  func(t *testing.T, err error)
	}{
		{"CONNECT 403", refuse(403), w.tlsOrigin.URL, wantStatus(403)},
		{"CONNECT 407", authProxy, w.tlsOrigin.URL, wantStatus(407)},
		{"CONNECT garbled", garbage, w.tlsOrigin.URL, func(t *testing.T, err error) {
			if !errors.As(err, new(*ferry.ProxyError)) {
				t.Errorf("err = %v, want *ProxyError", err)
			}
		}},
		{"origin certificate", w.httpProxy.URL(), untrustedOrigin.URL, func(t *testing.T, err error) {
			var cve *tls.CertificateVerificationError
			var uae x509.UnknownAuthorityError
			if !errors.As(err, &cve) || !errors.As(err, &uae) || errors.As(err, new(*ferry.ProxyError)) {
				t.Errorf("err = %v, want the origin's certificate error, not a ProxyError", err)
			}
		}},
		{"direct, origin certificate", nil, untrustedOrigin.URL, func(t *testing.T, err error) {
			if !errors.As(err, new(*tls.CertificateVerificationError)) {
				t.Errorf("err = %v, want the origin's certificate error", err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			next := startProxy(t, proxytest.Options{})
			_, err := get(t, w.listTransport(c.first, next.URL()), c.target+"/")
			if err == nil {
				t.Fatal("no error")
			}
			c.check(t, err)
			if n := next.Conns(); n != 0 {
				t.Errorf("the next entry got %d connections, want 0", n)
			}
		})
	}
}

func wantStatus(code int) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var pe *ferry.ProxyError
		if !errors.As(err, &pe) || pe.StatusCode != code {
			t.Errorf("err = %v, want *ProxyError with status %d", err, code)
		}
	}
}

// TestNoFailoverAfterContextEnded: a proxy that hangs until the caller's
// deadline passes ends the request; the next entry is not tried.
func TestNoFailoverAfterContextEnded(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	var dc dialCounter
	tr := w.listTransport(silentProxy(t, "http"), w.httpProxy.URL())
	tr.ConnectTimeout = 0
	tr.DialContext = dc.dial
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", w.tlsOrigin.URL+"/", nil)
	_, err := tr.RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if n := dc.count(w.httpProxy.URL()); n != 0 {
		t.Errorf("the next entry was dialled %d times, want 0", n)
	}
	if _, joined := err.(interface{ Unwrap() []error }); joined {
		t.Errorf("err = %v: more than the first entry was tried", err)
	}
}

// resettingProxy reads one forwarded request, passes it to the origin, then
// resets the client's connection before answering.
func resettingProxy(t testing.TB) *url.URL {
	t.Helper()
	addr := origintest.ServeConns(t, func(c net.Conn) {
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		out, _ := http.NewRequest(req.Method, req.RequestURI, req.Body)
		if resp, err := (&http.Transport{}).RoundTrip(out); err == nil {
			resp.Body.Close()
		}
		c.(*net.TCPConn).SetLinger(0) // RST, not FIN
	})
	return &url.URL{Scheme: "http", Host: addr}
}

// TestPostNotResentAfterProxyReset: a POST whose bytes reached a proxy that
// then reset the connection is not sent again, neither through the next
// entry nor the same one: the origin sees it once.
func TestPostNotResentAfterProxyReset(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	tr := w.listTransport(resettingProxy(t), w.httpProxy.URL())
	req, _ := http.NewRequest("POST", w.httpOrigin.URL+"/pay", strings.NewReader("amount=1"))
	_, err := tr.RoundTrip(req)
	if err == nil {
		t.Fatal("no error from a proxy that reset the connection")
	}
	if errors.As(err, new(*ferry.ProxyError)) {
		t.Errorf("err = %v: a failure after the request was written is not the proxy's", err)
	}
	if n := len(w.httpOrigin.Received()); n != 1 {
		t.Errorf("origin received the POST %d times, want 1", n)
	}
	if n := w.httpProxy.Conns(); n != 0 {
		t.Errorf("the next entry got %d connections, want 0", n)
	}
}

// TestAllEntriesFail: every error comes back, joined, each a *ProxyError.
func TestAllEntriesFail(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	list := []*url.URL{closedPort(t, "http"), untrustedProxy(t).URL(), closedPort(t, "https")}
	_, err := get(t, w.listTransport(list...), w.tlsOrigin.URL+"/")
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("err = %v (%T), want errors.Join of every entry's error", err, err)
	}
	var got []string
	for _, e := range joined.Unwrap() {
		var pe *ferry.ProxyError
		if !errors.As(e, &pe) {
			t.Errorf("%v: not a *ProxyError", e)
			continue
		}
		got = append(got, pe.Proxy.String())
	}
	var want []string
	for _, u := range list {
		want = append(want, u.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors' proxies (-want +got):\n%s", diff)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) || !errors.As(err, new(*tls.CertificateVerificationError)) {
		t.Errorf("err = %v: the causes are not reachable", err)
	}
}

// TestBadProxyTriedLast: a proxy that failed while the next one served is
// tried after the others for BadProxyTimeout, then first again.
func TestBadProxyTriedLast(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	dead := closedPort(t, "http")
	for _, c := range []struct {
		name    string
		timeout time.Duration
		// dials of the dead proxy after each of: request 1, request 2 (one
		// second later), request 3 (after the timeout plus one second).
		want []int
	}{
		{"default", 0, []int{1, 1, 2}},
		{"ten minutes", 10 * time.Minute, []int{1, 1, 1}},
		{"never", -1, []int{1, 2, 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var dc dialCounter
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			tr := w.listTransport(dead, w.httpProxy.URL())
			tr.DialContext = dc.dial
			tr.BadProxyTimeout = c.timeout
			ferry.SetClock(tr, func() time.Time { return now })
			var got []int
			for _, step := range []time.Duration{0, time.Second, ferry.DefaultBadProxyTimeout + time.Second} {
				now = now.Add(step)
				resp, err := get(t, tr, w.httpOrigin.URL+"/")
				if err != nil {
					t.Fatal(err)
				}
				info, _ := ferry.ConnInfoOf(resp)
				if info.Proxy == nil || info.Proxy.Host != w.httpProxy.URL().Host {
					t.Fatalf("served by %v", info.Proxy)
				}
				got = append(got, dc.count(dead))
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("dials of the dead proxy (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProxyListSettings(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	t.Run("Proxy and ProxyList", func(t *testing.T) {
		tr := w.listTransport(w.httpProxy.URL())
		tr.Proxy = http.ProxyURL(w.httpProxy.URL())
		if _, err := get(t, tr, w.httpOrigin.URL+"/"); !errors.Is(err, ferry.ErrProxyAndProxyList) {
			t.Errorf("err = %v, want ErrProxyAndProxyList", err)
		}
	})
	t.Run("list error", func(t *testing.T) {
		tr := &ferry.Transport{ProxyList: func(*http.Request) ([]*url.URL, error) { return nil, io.ErrUnexpectedEOF }}
		if _, err := get(t, tr, w.httpOrigin.URL+"/"); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("err = %v, want the list function's error", err)
		}
	})
	for _, c := range []struct {
		name string
		list []*url.URL
	}{
		{"empty list is direct", nil},
		{"DIRECT after a dead proxy", []*url.URL{closedPort(t, "http"), nil}},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := get(t, w.listTransport(c.list...), w.httpOrigin.URL+"/direct")
			if err != nil {
				t.Fatal(err)
			}
			info, _ := ferry.ConnInfoOf(resp)
			wantSkipped := max(len(c.list)-1, 0)
			if info.Proxy != nil || info.Mode.String() != "direct" || len(info.Skipped) != wantSkipped {
				t.Errorf("ConnInfo = %+v, want direct after %d skipped", info, wantSkipped)
			}
		})
	}
	t.Run("body kept for the next entry", func(t *testing.T) {
		o := newOrigin(t, nil, func(rw http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			rw.Write(b)
		})
		req, _ := http.NewRequest("POST", o.URL+"/", strings.NewReader("payload"))
		resp, err := w.listTransport(closedPort(t, "http"), w.httpProxy.URL()).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if b, _ := io.ReadAll(resp.Body); string(b) != "payload" {
			t.Errorf("origin echoed %q, want the body sent through the second entry", b)
		}
	})
}

// TestFailoverDialErrors: a proxy name that does not resolve and an
// unreachable network are dial failures like a refusal (the dialer stands in
// for DNS and routing, so no name reaches the system resolver).
func TestFailoverDialErrors(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	fake := map[string]error{
		"no-such-proxy.test:3128": &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "no-such-proxy.test", IsNotFound: true}},
		"unreachable.test:3128":   &net.OpError{Op: "dial", Net: "tcp", Err: syscall.EHOSTUNREACH},
	}
	tr := w.listTransport(mustURL(t, "http://no-such-proxy.test:3128"), mustURL(t, "https://unreachable.test:3128"), w.httpProxy.URL())
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if err, ok := fake[addr]; ok {
			return nil, err
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	resp, err := get(t, tr, w.tlsOrigin.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := ferry.ConnInfoOf(resp)
	if len(info.Skipped) != 2 || !errors.As(info.Skipped[0].Err, new(*net.DNSError)) || !errors.Is(info.Skipped[1].Err, syscall.EHOSTUNREACH) {
		t.Errorf("Skipped = %v, want the DNS and the unreachable errors", info.Skipped)
	}
}

// TestFailoverPins: a pin mismatch with an https proxy is that proxy's TLS
// failing (fail over); a pin mismatch with the target is not (no failover).
// A dead SOCKS5 entry is passed over like any proxy.
func TestFailoverPins(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	wrongPin := "sha256/" + strings.Repeat("ab", 32)
	socks, err := proxytest.NewSOCKS5("", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { socks.Close() })

	t.Run("proxy pin", func(t *testing.T) {
		// Two https proxies with certificates from one CA; the pin is the
		// second's, so the first fails its TLS and the second serves.
		leaf2, err := w.ca.LocalhostLeaf()
		if err != nil {
			t.Fatal(err)
		}
		cert2, _ := x509.ParseCertificate(leaf2.Certificate[0])
		pinned := startProxy(t, proxytest.Options{TLS: &tls.Config{Certificates: []tls.Certificate{leaf2}}, UpstreamTLS: &tls.Config{RootCAs: w.ca.Pool()}})
		tr := w.listTransport(w.tlsProxy.URL(), pinned.URL())
		tr.ProxyVerify.Fingerprint = verify.FingerprintOf(cert2)
		resp, err := get(t, tr, w.tlsOrigin.URL+"/")
		if err != nil {
			t.Fatal(err)
		}
		info, _ := ferry.ConnInfoOf(resp)
		if info.Proxy.Host != pinned.URL().Host || len(info.Skipped) != 1 || !errors.As(info.Skipped[0].Err, new(*verify.PinMismatchError)) {
			t.Errorf("served by %v after %v; want the pinned proxy after the first's pin mismatch", info.Proxy, info.Skipped)
		}
	})
	t.Run("origin pin", func(t *testing.T) {
		next := startProxy(t, proxytest.Options{})
		tr := w.listTransport(w.httpProxy.URL(), next.URL())
		tr.OriginVerify.Fingerprint = wrongPin
		_, err := get(t, tr, w.tlsOrigin.URL+"/")
		if !errors.As(err, new(*verify.PinMismatchError)) || errors.As(err, new(*ferry.ProxyError)) {
			t.Errorf("err = %v, want the origin's pin mismatch, not a ProxyError", err)
		}
		if n := next.Conns(); n != 0 {
			t.Errorf("the next entry got %d connections, want 0", n)
		}
	})
	t.Run("dead socks5", func(t *testing.T) {
		resp, err := get(t, w.listTransport(closedPort(t, "socks5h"), socks.URL()), w.httpOrigin.URL+"/")
		if err != nil {
			t.Fatal(err)
		}
		info, _ := ferry.ConnInfoOf(resp)
		if info.Proxy.Host != socks.URL().Host || len(info.Skipped) != 1 {
			t.Errorf("served by %v after %d skipped; want the SOCKS5 proxy after 1", info.Proxy, len(info.Skipped))
		}
	})
}

// TestFailoverConcurrent: many requests fail over at once; the bad-proxy
// table is shared safely (run with -race) and every request is served.
func TestFailoverConcurrent(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	tr := w.listTransport(closedPort(t, "http"), closedPort(t, "https"), w.httpProxy.URL())
	var wg sync.WaitGroup
	errs := make(chan error, 80)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				req, _ := http.NewRequest("GET", w.httpOrigin.URL+"/", nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					errs <- err
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(w.httpOrigin.Received()); n != 80 {
		t.Errorf("origin got %d requests, want 80", n)
	}
}

// TestFailoverFromDirect: a DIRECT entry whose dial fails moves on to the
// next entry, as in Chromium ("DIRECT; PROXY backup:3128").
func TestFailoverFromDirect(t *testing.T) {
	w := newWorld(t, proxytest.Options{})
	dead := closedPort(t, "http")
	target := "http://" + dead.Host + "/"
	resp, err := get(t, w.listTransport(nil, w.httpProxy.URL()), target)
	if err != nil {
		t.Fatal(err)
	}
	// The proxy cannot reach the closed port either and says so with a
	// response (502): the request went through the second entry.
	info, _ := ferry.ConnInfoOf(resp)
	if info.Proxy == nil || len(info.Skipped) != 1 || info.Skipped[0].Proxy != nil || !errors.Is(info.Skipped[0].Err, syscall.ECONNREFUSED) {
		t.Errorf("served by %v after %v; want the proxy after DIRECT's refused dial", info.Proxy, info.Skipped)
	}
	recs := w.httpProxy.Requests()
	if len(recs) != 1 || recs[0].Target != target {
		t.Errorf("proxy got %v, want the request for %s", recs, target)
	}
}
