package interop_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/proxyauth"
)

// authTransport is e.transport with ProxyAuth and a count of the
// connections it dials.
func (e *env) authTransport(proxy *url.URL, schemes []proxyauth.Scheme, dials *atomic.Int64) *ferry.Transport {
	tr := e.transport(proxy, false)
	tr.ProxyHeader = nil
	tr.ProxyAuth = schemes
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials != nil {
			dials.Add(1)
		}
		return d.DialContext(ctx, network, addr)
	}
	return tr
}

func withUser(u *url.URL, user, pass string) *url.URL {
	c := *u
	c.User = url.UserPassword(user, pass)
	return &c
}

// logCounts counts squid's access log lines by status (e.g. "407", "200")
// for lines whose method is method.
func logCounts(s string, method string) map[string]int {
	out := map[string]int{}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[5] != method {
			continue
		}
		if _, code, ok := strings.Cut(f[3], "/"); ok {
			out[code]++
		}
	}
	return out
}

func roundTrip(t *testing.T, tr http.RoundTripper, req *http.Request) (int, error) {
	t.Helper()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// schemeCase is one scheme against one squid port: what a user configures.
type schemeCase struct {
	name    string
	proxy   func(e *env) *url.URL
	schemes func() []proxyauth.Scheme
}

func digestCase() schemeCase {
	return schemeCase{"digest", func(e *env) *url.URL { return e.squid.Digest },
		func() []proxyauth.Scheme { return []proxyauth.Scheme{&proxyauth.Digest{}} }}
}

// testSchemeAgainstSquid: a forwarded GET, a CONNECT to the https origin, a
// wrong password, a POST without GetBody in forward mode.
func testSchemeAgainstSquid(t *testing.T, e *env, c schemeCase) {
	good := withUser(c.proxy(e), "ferry", "interop")
	bad := withUser(c.proxy(e), "ferry", "Wr0ngPassw0rd")
	t.Run("forwarded GET", func(t *testing.T) {
		tr := e.authTransport(good, c.schemes(), nil)
		defer tr.CloseIdleConnections()
		for i := 0; i < 3; i++ {
			req, _ := http.NewRequest("GET", e.plain.URL+"/fwd", nil)
			if code, err := roundTrip(t, tr, req); err != nil || code != 200 {
				t.Fatalf("request %d: %d, %v; want 200", i, code, err)
			}
		}
	})
	t.Run("CONNECT", func(t *testing.T) {
		tr := e.authTransport(good, c.schemes(), nil)
		defer tr.CloseIdleConnections()
		for i := 0; i < 2; i++ {
			req, _ := http.NewRequest("GET", e.secureURL+"/tunnel", nil)
			if code, err := roundTrip(t, tr, req); err != nil || code != 200 {
				t.Fatalf("request %d: %d, %v; want 200", i, code, err)
			}
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		tr := e.authTransport(bad, c.schemes(), nil)
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("GET", e.secureURL+"/tunnel", nil)
		_, err := roundTrip(t, tr, req)
		var pe *ferry.ProxyError
		if !errors.As(err, &pe) || pe.StatusCode != 407 || pe.Header.Get("Proxy-Authenticate") == "" {
			t.Errorf("CONNECT: err = %v, want a ProxyError 407 with the challenge", err)
		}
		if err != nil && strings.Contains(err.Error(), "Wr0ngPassw0rd") {
			t.Errorf("the error holds the password: %v", err)
		}
		req, _ = http.NewRequest("GET", e.plain.URL+"/fwd", nil)
		if code, err := roundTrip(t, tr, req); err != nil || code != 407 {
			t.Errorf("forwarded: %d, %v; want the 407", code, err)
		}
	})
	t.Run("POST without GetBody", func(t *testing.T) {
		tr := e.authTransport(good, c.schemes(), nil)
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("POST", e.plain.URL+"/post", io.NopCloser(strings.NewReader("payload")))
		if code, err := roundTrip(t, tr, req); err != nil || code != 407 {
			t.Errorf("first POST: %d, %v; want the 407 (the body cannot be sent again)", code, err)
		}
		req, _ = http.NewRequest("POST", e.plain.URL+"/post", strings.NewReader("payload"))
		if code, err := roundTrip(t, tr, req); err != nil || code != 200 {
			t.Errorf("POST with GetBody: %d, %v; want 200", code, err)
		}
	})
}

// concurrentAgainstSquid sends goroutines×each forwarded GETs through one
// Transport and returns the 407s squid logged, the requests and the
// connections dialled.
func concurrentAgainstSquid(t *testing.T, e *env, c schemeCase, goroutines, each int) (n407, requests, conns int) {
	var dials atomic.Int64
	tr := e.authTransport(withUser(c.proxy(e), "ferry", "interop"), c.schemes(), &dials)
	tr.MaxIdleConnsPerHost = goroutines
	defer tr.CloseIdleConnections()
	before := logCounts(e.squid.AccessLog(), "GET")
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				req, _ := http.NewRequest("GET", e.plain.URL+"/many", nil)
				code, err := roundTrip(t, tr, req)
				if err == nil && code != 200 {
					err = fmt.Errorf("status %d", code)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// squid writes a forwarded request's line when it has answered it.
	var after map[string]int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		after = logCounts(e.squid.AccessLog(), "GET")
		if after["200"]-before["200"] >= goroutines*each {
			break
		}
	}
	return after["407"] - before["407"], after["200"] - before["200"], int(dials.Load())
}

func TestSquidDigest(t *testing.T) {
	e := setup(t)
	c := digestCase()
	testSchemeAgainstSquid(t, e, c)
	for _, load := range []struct{ goroutines, each int }{{50, 20}, {10, 100}} {
		t.Run(fmt.Sprintf("%d concurrent", load.goroutines), func(t *testing.T) {
			testDigestLoad(t, e, c, load.goroutines, load.each)
		})
	}
}

func testDigestLoad(t *testing.T, e *env, c schemeCase, goroutines, each int) {
	{
		n407, requests, conns := concurrentAgainstSquid(t, e, c, goroutines, each)
		t.Logf("digest: %d requests over %d connections: %d 407s (%.3f extra round trips per request after each connection's first; squid's nonce_max_count is 50)",
			requests, conns, n407, float64(n407-conns)/float64(requests))
		if requests != goroutines*each {
			t.Errorf("squid logged %d answered requests, want %d", requests, goroutines*each)
		}
		// One 407 per connection to get its nonce, and one each time squid
		// retires a nonce after 50 uses; never one per request.
		if max := conns + requests/50 + conns; n407 > max {
			t.Errorf("%d 407s for %d requests over %d connections, want at most %d", n407, requests, conns, max)
		}
	}
}
