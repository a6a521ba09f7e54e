package interop

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/testcert"
	"github.com/ferryhttp/ferry/proxyauth"
)

// AuthEnv is what the proxy authentication checks run against: a squid
// and two origins, plain and TLS (the TLS one addressed as localhost, which
// squid can verify by name).
type AuthEnv struct {
	CA        *testcert.CA
	Squid     *Squid
	Plain     *httptest.Server
	SecureURL string // https://localhost:PORT

	mu   sync.Mutex
	seen []http.Header // what the origins received
}

// NewAuthEnv starts a squid with o (certificates filled in) and the origins.
func NewAuthEnv(t testing.TB, o SquidOptions) *AuthEnv {
	t.Helper()
	Require(t)
	ca, leaf := testcert.MustLocalhost("ferry auth interop CA")
	dir := t.TempDir()
	certFile, keyFile, err := testcert.WritePEM(dir, leaf)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	o.CertFile, o.KeyFile, o.CAFile = certFile, keyFile, caFile
	e := &AuthEnv{CA: ca}
	e.Squid = StartSquid(t, o)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.seen = append(e.seen, r.Header.Clone())
		e.mu.Unlock()
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "hello "+r.URL.Path)
	})
	e.Plain = httptest.NewServer(h)
	t.Cleanup(e.Plain.Close)
	secure := httptest.NewUnstartedServer(h)
	secure.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	secure.StartTLS()
	t.Cleanup(secure.Close)
	_, port, _ := net.SplitHostPort(secure.Listener.Addr().String())
	e.SecureURL = "https://localhost:" + port
	return e
}

// Transport returns a Transport through proxy with schemes; dials, when
// set, counts the connections it opens.
func (e *AuthEnv) Transport(proxy *url.URL, schemes []proxyauth.Scheme, dials *atomic.Int64) *ferry.Transport {
	var d net.Dialer
	return &ferry.Transport{
		Proxy:                http.ProxyURL(proxy),
		ProxyAuth:            schemes,
		TLSClientConfig:      &tls.Config{RootCAs: e.CA.Pool()},
		ProxyTLSClientConfig: &tls.Config{RootCAs: e.CA.Pool()},
		ConnectTimeout:       20 * time.Second,
		ReadTimeout:          20 * time.Second,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if dials != nil {
				dials.Add(1)
			}
			return d.DialContext(ctx, network, addr)
		},
	}
}

// WithUser returns a copy of u with user and password.
func WithUser(u *url.URL, user, pass string) *url.URL {
	c := *u
	c.User = url.UserPassword(user, pass)
	return &c
}

func roundTrip(tr http.RoundTripper, req *http.Request) (int, error) {
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// CheckScheme runs the checks every scheme must pass against squid's port
// proxy (without credentials): a forwarded GET, a CONNECT to the https
// origin, a wrong password (ProxyError 407 / the 407 response, no password
// in the error), and a POST without GetBody in forward mode (the 407 comes
// back). user and password are the good credentials; proxy the port.
func CheckScheme(t *testing.T, e *AuthEnv, proxy *url.URL, user, password string, schemes func() []proxyauth.Scheme) {
	good := WithUser(proxy, user, password)
	const wrong = "Wr0ngPassw0rd"
	bad := WithUser(proxy, user, wrong)
	t.Run("forwarded GET", func(t *testing.T) {
		tr := e.Transport(good, schemes(), nil)
		defer tr.CloseIdleConnections()
		for i := 0; i < 3; i++ {
			req, _ := http.NewRequest("GET", e.Plain.URL+"/fwd", nil)
			if code, err := roundTrip(tr, req); err != nil || code != 200 {
				t.Fatalf("request %d: %d, %v; want 200", i, code, err)
			}
		}
	})
	t.Run("CONNECT", func(t *testing.T) {
		tr := e.Transport(good, schemes(), nil)
		defer tr.CloseIdleConnections()
		for i := 0; i < 2; i++ {
			req, _ := http.NewRequest("GET", e.SecureURL+"/tunnel", nil)
			if code, err := roundTrip(tr, req); err != nil || code != 200 {
				t.Fatalf("request %d: %d, %v; want 200", i, code, err)
			}
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		tr := e.Transport(bad, schemes(), nil)
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("GET", e.SecureURL+"/tunnel", nil)
		_, err := roundTrip(tr, req)
		var pe *ferry.ProxyError
		if !errors.As(err, &pe) || pe.StatusCode != 407 || pe.Header.Get("Proxy-Authenticate") == "" {
			t.Errorf("CONNECT: err = %v, want a ProxyError 407 with the challenge", err)
		}
		if err != nil && strings.Contains(err.Error(), wrong) {
			t.Errorf("the error holds the password: %v", err)
		}
		req, _ = http.NewRequest("GET", e.Plain.URL+"/fwd", nil)
		if code, err := roundTrip(tr, req); err != nil || code != 407 {
			t.Errorf("forwarded: %d, %v; want the 407", code, err)
		}
	})
	t.Run("POST without GetBody", func(t *testing.T) {
		tr := e.Transport(good, schemes(), nil)
		defer tr.CloseIdleConnections()
		before := e.Squid.LogCounts("POST")
		req, _ := http.NewRequest("POST", e.Plain.URL+"/post", io.NopCloser(strings.NewReader("payload")))
		code, err := roundTrip(tr, req)
		// A scheme that starts on the first request (one configured,
		// connection-bound) may need no 407; otherwise the 407 comes back,
		// and either way the request went out once.
		if err != nil || (code != 407 && code != 200) {
			t.Errorf("first POST: %d, %v; want the 407 (the body cannot be sent again) or 200", code, err)
		}
		// squid logs a request once it has answered it: give the line time.
		var sent int
		for deadline := time.Now().Add(5 * time.Second); sent == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			after := e.Squid.LogCounts("POST")
			sent = after["407"] + after["200"] - before["407"] - before["200"]
		}
		if sent != 1 {
			t.Errorf("first POST: squid logged it %d times, want once (status %d)", sent, code)
		}
		req, _ = http.NewRequest("POST", e.Plain.URL+"/post", strings.NewReader("payload"))
		if code, err := roundTrip(tr, req); err != nil || code != 200 {
			t.Errorf("POST with GetBody: %d, %v; want 200", code, err)
		}
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, h := range e.seen {
		if v := h.Get("Proxy-Authorization"); v != "" {
			t.Errorf("an origin got Proxy-Authorization")
		}
	}
}

// LogCounts counts squid's access log lines by status ("407", "200") for
// the given method.
func (s *Squid) LogCounts(method string) map[string]int {
	out := map[string]int{}
	for _, line := range strings.Split(s.AccessLog(), "\n") {
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

// Load is what Concurrent measured.
type Load struct {
	Requests int // answered 200, as squid logged them
	N407     int // 407s squid logged meanwhile
	Conns    int // connections the Transport dialled
}

func (l Load) String() string {
	return fmt.Sprintf("%d requests over %d connections, %d 407s", l.Requests, l.Conns, l.N407)
}

// Concurrent sends goroutines×each forwarded GETs through one Transport to
// proxy (with credentials) and counts what squid logged.
func Concurrent(t *testing.T, e *AuthEnv, proxy *url.URL, schemes []proxyauth.Scheme, goroutines, each int) Load {
	var dials atomic.Int64
	tr := e.Transport(proxy, schemes, &dials)
	tr.MaxIdleConnsPerHost = goroutines
	defer tr.CloseIdleConnections()
	before := e.Squid.LogCounts("GET")
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				req, _ := http.NewRequest("GET", e.Plain.URL+"/many", nil)
				code, err := roundTrip(tr, req)
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
	// squid logs a forwarded request once it has answered it.
	var after map[string]int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		after = e.Squid.LogCounts("GET")
		if after["200"]-before["200"] >= goroutines*each {
			break
		}
	}
	return Load{Requests: after["200"] - before["200"], N407: after["407"] - before["407"], Conns: int(dials.Load())}
}
