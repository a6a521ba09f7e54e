package interop_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/conn"
	"github.com/ferryhttp/ferry/internal/interop"
	"github.com/ferryhttp/ferry/internal/testcert"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// recorder is an origin that keeps the headers it received.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
	host []string
}

func newRecorder(t *testing.T, cert *tls.Certificate) *recorder {
	r := &recorder{}
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.seen = append(r.seen, req.Header.Clone())
		r.host = append(r.host, req.Host)
		r.mu.Unlock()
		if req.URL.Path == "/upload" {
			// Answer early, without reading the body, and close.
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			io.WriteString(w, "too large")
			return
		}
		io.WriteString(w, "hello "+req.URL.Path)
	})
	r.Server = httptest.NewUnstartedServer(h)
	if cert != nil {
		r.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
		r.StartTLS()
	} else {
		r.Start()
	}
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) headers() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.seen...)
}

type env struct {
	ca        *testcert.CA
	squid     *interop.Squid
	tiny      *interop.Tinyproxy
	plain     *recorder
	secure    *recorder
	secureURL string // https://localhost:port: squid checks origins by DNS name
}

func setup(t *testing.T) *env {
	t.Helper()
	interop.Require(t)
	ca, leaf := testcert.MustLocalhost("ferry interop CA")
	dir := t.TempDir()
	certFile, keyFile, err := testcert.WritePEM(dir, leaf)
	if err != nil {
		t.Fatal(err)
	}
	caFile := dir + "/ca.pem"
	if err := writeFile(caFile, ca.CertPEM); err != nil {
		t.Fatal(err)
	}
	e := &env{ca: ca}
	e.squid = interop.StartSquid(t, interop.SquidOptions{CertFile: certFile, KeyFile: keyFile, CAFile: caFile})
	e.tiny = interop.StartTinyproxy(t)
	e.plain = newRecorder(t, nil)
	e.secure = newRecorder(t, &leaf)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(e.secure.URL, "https://"))
	e.secureURL = "https://localhost:" + port
	return e
}

func (e *env) transport(proxy *url.URL, forwarding bool) *ferry.Transport {
	return &ferry.Transport{
		Proxy:                 http.ProxyURL(proxy),
		TLSClientConfig:       &tls.Config{RootCAs: e.ca.Pool()},
		ProxyTLSClientConfig:  &tls.Config{RootCAs: e.ca.Pool()},
		UseForwardingForHTTPS: forwarding,
		ProxyHeader:           http.Header{"X-Proxy-Header": {"for-the-proxy"}},
		ConnectTimeout:        10 * time.Second,
		ReadTimeout:           10 * time.Second,
	}
}

type result struct {
	Status          int
	Body            string
	Mode            proxyconfig.Mode
	IsVerified      bool
	IsProxyVerified bool
	Reused          bool
}

// TestRealProxies drives every row of the mode table through squid and
// tinyproxy, twice (the second request must reuse the connection).
func TestRealProxies(t *testing.T) {
	e := setup(t)
	rows := []struct {
		name       string
		proxy      *url.URL
		target     string
		forwarding bool
		want       result
	}{
		{"squid/http-proxy/http", e.squid.HTTP, e.plain.URL, false, result{200, "hello /row", proxyconfig.Forward, false, false, true}},
		{"squid/http-proxy/https", e.squid.HTTP, e.secure.URL, false, result{200, "hello /row", proxyconfig.Tunnel, true, false, true}},
		{"squid/https-proxy/http", e.squid.HTTPS, e.plain.URL, false, result{200, "hello /row", proxyconfig.Forward, false, true, true}},
		{"squid/https-proxy/https", e.squid.HTTPS, e.secure.URL, false, result{200, "hello /row", proxyconfig.Tunnel, true, true, true}},
		{"squid/https-proxy/https-forwarding", e.squid.HTTPS, e.secureURL, true, result{200, "hello /row", proxyconfig.Forward, false, true, true}},
		// tinyproxy 1.11 closes the client connection after every forwarded
		// request, so there is nothing to reuse; ferry must notice and dial again.
		{"tinyproxy/http", e.tiny.URL, e.plain.URL, false, result{200, "hello /row", proxyconfig.Forward, false, false, false}},
		{"tinyproxy/https", e.tiny.URL, e.secure.URL, false, result{200, "hello /row", proxyconfig.Tunnel, true, false, true}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			tr := e.transport(row.proxy, row.forwarding)
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			before := len(e.plain.headers()) + len(e.secure.headers())
			var got result
			for i := 0; i < 2; i++ {
				resp, err := client.Get(row.target + "/row")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				info, _ := ferry.ConnInfoOf(resp)
				got = result{resp.StatusCode, string(b), info.Mode, info.IsVerified, info.IsProxyVerified, info.Reused}
			}
			if diff := cmp.Diff(row.want, got); diff != "" {
				t.Errorf("second request (-want +got):\n%s", diff)
			}
			all := append(e.plain.headers(), e.secure.headers()...)
			for _, h := range all[before:] {
				if h.Get("Proxy-Authorization") != "" {
					t.Errorf("origin got Proxy-Authorization")
				}
				if got.Mode == proxyconfig.Tunnel && h.Get("X-Proxy-Header") != "" {
					t.Errorf("origin got X-Proxy-Header through a tunnel")
				}
			}
		})
	}
}

// TestSquidAuth: 407 without credentials, 200 with them, in both modes.
func TestSquidAuth(t *testing.T) {
	e := setup(t)
	withCreds := *e.squid.Auth
	withCreds.User = url.UserPassword("ferry", "interop")
	for _, target := range []string{e.plain.URL, e.secure.URL} {
		t.Run(target[:5], func(t *testing.T) {
			_, err := (&http.Client{Transport: e.transport(e.squid.Auth, false)}).Get(target)
			if strings.HasPrefix(target, "https") {
				var pe *ferry.ProxyError
				if !errors.As(err, &pe) || pe.StatusCode != 407 || pe.Header.Get("Proxy-Authenticate") == "" {
					t.Fatalf("CONNECT without credentials: err = %v, want ProxyError 407 with Proxy-Authenticate", err)
				}
			} else {
				resp, err := (&http.Client{Transport: e.transport(e.squid.Auth, false)}).Get(target)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 407 {
					t.Fatalf("forward without credentials: status %d, want 407", resp.StatusCode)
				}
			}
			resp, err := (&http.Client{Transport: e.transport(&withCreds, false)}).Get(target)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("with credentials: status %d, want 200", resp.StatusCode)
			}
		})
	}
}

// TestSquidRefusedConnect: squid's 403 and its error page come back in the ProxyError.
func TestSquidRefusedConnect(t *testing.T) {
	e := setup(t)
	_, err := (&http.Client{Transport: e.transport(e.squid.HTTP, false)}).Get(fmt.Sprintf("https://127.0.0.1:%d/", e.squid.RefusedPort))
	var pe *ferry.ProxyError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *ferry.ProxyError", err)
	}
	if pe.StatusCode != 403 || pe.Header.Get("X-Squid-Error") == "" || !strings.Contains(string(pe.Body), "<html") || !pe.HasConnectedToProxy {
		t.Errorf("ProxyError: status %d, X-Squid-Error %q, body %d bytes, connected %v; want 403, set, squid's page, true",
			pe.StatusCode, pe.Header.Get("X-Squid-Error"), len(pe.Body), pe.HasConnectedToProxy)
	}
}

// TestEarlyAnswerThroughProxies: an origin's 413 to a large upload comes back
// through each proxy, in forward mode and through a tunnel.
func TestEarlyAnswerThroughProxies(t *testing.T) {
	e := setup(t)
	body := strings.Repeat("x", 32<<20)
	for _, c := range []struct {
		name   string
		proxy  *url.URL
		target string
	}{
		{"squid/forward", e.squid.HTTP, e.plain.URL},
		{"squid/tunnel", e.squid.HTTP, e.secure.URL},
		{"tinyproxy/forward", e.tiny.URL, e.plain.URL},
		{"tinyproxy/tunnel", e.tiny.URL, e.secure.URL},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := e.transport(c.proxy, false)
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 60 * time.Second}).Post(c.target+"/upload", "application/octet-stream", strings.NewReader(body))
			if err != nil && c.name == "tinyproxy/forward" {
				// tinyproxy 1.11 does not relay an answer that arrives while
				// it is still sending the body on: it resets the client
				// connection. ferry then returns the write error, wrapped.
				var we *conn.WriteError
				if !errors.As(err, &we) || !conn.IsConnectionLost(err) {
					t.Fatalf("err = %v, want a *conn.WriteError with ECONNRESET/EPIPE", err)
				}
				t.Logf("tinyproxy reset the upload without relaying the 413 (documented): %v", err)
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want the origin's 413", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 413", resp.StatusCode)
			}
		})
	}
}

func writeFile(name string, b []byte) error {
	return os.WriteFile(name, b, 0o644)
}
