package ferry_test

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/conn"
	"github.com/ferryhttp/ferry/internal/proxytest"
	"github.com/ferryhttp/ferry/proxyauth"
)

// handshake is a connection-bound scheme of the tests, the client side of
// proxytest's Handshake: it stands for NTLM and Negotiate.
type handshake struct{}

func (handshake) Name() string { return proxytest.HandshakeScheme }

func (handshake) Start(p *url.URL) (proxyauth.Authenticator, error) {
	if p.User == nil {
		return nil, proxyauth.ErrNoCredentials
	}
	pw, _ := p.User.Password()
	return &handshakeAuth{cred: base64.StdEncoding.EncodeToString([]byte(p.User.Username() + ":" + pw))}, nil
}

type handshakeAuth struct {
	cred string
	done bool
}

func (a *handshakeAuth) Authorize(r *proxyauth.Request) (string, error) {
	switch {
	case r.Challenges == nil && a.done:
		return "", nil // the connection is authenticated
	case r.Challenges == nil || r.Challenges[0].Token68 == "":
		if r.Sent != "" {
			return "", proxyauth.ErrRejected
		}
		a.done = false
		return proxytest.HandshakeScheme + " hello", nil
	}
	a.done = true
	return proxytest.HandshakeScheme + " " + r.Challenges[0].Token68 + "." + a.cred, nil
}

type authCase struct {
	name    string
	popts   proxytest.Options
	schemes []proxyauth.Scheme
	pass    string
}

func (c authCase) String() string {
	o := c.popts
	return fmt.Sprintf("%s: proxy Basic %q Digest %q Handshake %q close-on-407 %v 407-body %d bytes; %d schemes; password %q",
		c.name, o.Auth, o.Digest, o.Handshake, o.CloseOn407, len(o.ChallengeBody), len(c.schemes), c.pass)
}

func authTransport(w *world, proxy *url.URL, schemes []proxyauth.Scheme) *ferry.Transport {
	return &ferry.Transport{
		Proxy:                http.ProxyURL(proxy),
		TLSClientConfig:      &tls.Config{RootCAs: w.ca.Pool()},
		ProxyTLSClientConfig: &tls.Config{RootCAs: w.ca.Pool()},
		ProxyAuth:            schemes,
	}
}

func getBody(t *testing.T, tr http.RoundTripper, req *http.Request) (int, string) {
	t.Helper()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// authSummary is what the proxy saw: per request, its connection and the
// scheme of its Proxy-Authorization ("-" for none).
func authSummary(p *proxytest.Proxy) []string {
	var out []string
	for _, r := range p.Requests() {
		s := "-"
		if v := r.Header.Get("Proxy-Authorization"); v != "" {
			s, _, _ = strings.Cut(v, " ")
			if strings.HasSuffix(v, " hello") {
				s += "/hello"
			}
		}
		out = append(out, fmt.Sprintf("%s c%d %s", r.Method, r.ConnIndex, s))
	}
	return out
}

// Three requests in each mode: the first answers a 407, later ones (and
// later connections) authenticate at once.
func TestProxyAuthSchemes(t *testing.T) {
	cases := []struct {
		authCase
		forward, tunnel []string // what the proxy saw
	}{
		{authCase{name: "digest", popts: proxytest.Options{Digest: "u:pw"}, schemes: []proxyauth.Scheme{&proxyauth.Digest{}}, pass: "pw"},
			[]string{"GET c1 -", "GET c1 Digest", "GET c1 Digest", "GET c1 Digest"},
			[]string{"CONNECT c1 -", "CONNECT c1 Digest"}},
		{authCase{name: "digest, proxy closes after 407", popts: proxytest.Options{Digest: "u:pw", CloseOn407: true}, schemes: []proxyauth.Scheme{&proxyauth.Digest{}}, pass: "pw"},
			[]string{"GET c1 -", "GET c2 Digest", "GET c2 Digest", "GET c2 Digest"},
			[]string{"CONNECT c1 -", "CONNECT c2 Digest"}},
		{authCase{name: "digest, 407 body too long to read", popts: proxytest.Options{Digest: "u:pw", ChallengeBody: strings.Repeat("x", 1<<20)}, schemes: []proxyauth.Scheme{&proxyauth.Digest{}}, pass: "pw"},
			[]string{"GET c1 -", "GET c2 Digest", "GET c2 Digest", "GET c2 Digest"},
			[]string{"CONNECT c1 -", "CONNECT c2 Digest"}},
		{authCase{name: "basic, preemptive", popts: proxytest.Options{Auth: "u:pw"}, schemes: []proxyauth.Scheme{proxyauth.Basic{}}, pass: "pw"},
			[]string{"GET c1 Basic", "GET c1 Basic", "GET c1 Basic"},
			[]string{"CONNECT c1 Basic"}},
		{authCase{name: "connection-bound", popts: proxytest.Options{Handshake: "u:pw"}, schemes: []proxyauth.Scheme{handshake{}}, pass: "pw"},
			[]string{"GET c1 Ferry-Handshake/hello", "GET c1 Ferry-Handshake", "GET c1 -", "GET c1 -"},
			[]string{"CONNECT c1 Ferry-Handshake/hello", "CONNECT c1 Ferry-Handshake"}},
		{authCase{name: "several offered, several configured", popts: proxytest.Options{Handshake: "u:pw", Digest: "u:pw", Auth: "u:pw"},
			schemes: []proxyauth.Scheme{proxyauth.Basic{}, &proxyauth.Digest{}}, pass: "pw"},
			[]string{"GET c1 -", "GET c1 Digest", "GET c1 Digest", "GET c1 Digest"},
			[]string{"CONNECT c1 -", "CONNECT c1 Digest"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, c.popts)
			tr := authTransport(w, w.httpProxy.URLWithAuth("u", c.pass), c.schemes)
			defer tr.CloseIdleConnections()
			for i := 0; i < 3; i++ {
				req, _ := http.NewRequest("GET", w.httpOrigin.URL+"/f", nil)
				if code, body := getBody(t, tr, req); code != 200 || body != "hello from /f" {
					t.Fatalf("%v: forwarded GET %d: %d %q", c, i, code, body)
				}
			}
			if diff := cmp.Diff(c.forward, authSummary(w.httpProxy)); diff != "" {
				t.Errorf("%v: forward mode, proxy saw (-want +got):\n%s", c, diff)
			}
			// A tunnel on a proxy this Transport has not met yet.
			tr2 := authTransport(w, w.tlsProxy.URLWithAuth("u", c.pass), c.schemes)
			defer tr2.CloseIdleConnections()
			for i := 0; i < 3; i++ {
				req, _ := http.NewRequest("GET", w.tlsOrigin.URL+"/t", nil)
				if code, body := getBody(t, tr2, req); code != 200 || body != "hello from /t" {
					t.Fatalf("%v: GET through the tunnel %d: %d %q", c, i, code, body)
				}
			}
			if diff := cmp.Diff(c.tunnel, authSummary(w.tlsProxy)); diff != "" {
				t.Errorf("%v: tunnel mode, proxy saw (-want +got):\n%s", c, diff)
			}
			for _, s := range append(w.httpOrigin.Received(), w.tlsOrigin.Received()...) {
				if v := s.Header.Get("Proxy-Authorization"); v != "" {
					t.Errorf("the origin got Proxy-Authorization %q", v)
				}
			}
		})
	}
}

// Wrong credentials: a CONNECT ends in a *ProxyError with status 407 and the
// proxy's challenge; a forwarded request returns the 407; both after a
// bounded number of requests, with no password in the error.
func TestProxyAuthWrongPassword(t *testing.T) {
	cases := []authCase{
		{name: "digest", popts: proxytest.Options{Digest: "u:pw"}, schemes: []proxyauth.Scheme{&proxyauth.Digest{}}},
		{name: "digest, proxy closes", popts: proxytest.Options{Digest: "u:pw", CloseOn407: true}, schemes: []proxyauth.Scheme{&proxyauth.Digest{}}},
		{name: "basic", popts: proxytest.Options{Auth: "u:pw"}, schemes: []proxyauth.Scheme{proxyauth.Basic{}}},
		{name: "connection-bound", popts: proxytest.Options{Handshake: "u:pw"}, schemes: []proxyauth.Scheme{handshake{}}},
		{name: "connection-bound, proxy closes", popts: proxytest.Options{Handshake: "u:pw", CloseOn407: true}, schemes: []proxyauth.Scheme{handshake{}}},
		{name: "not offered", popts: proxytest.Options{Auth: "u:pw"}, schemes: []proxyauth.Scheme{&proxyauth.Digest{}}},
	}
	const secret = "Wr0ngSecret"
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, c.popts)
			tr := authTransport(w, w.httpProxy.URLWithAuth("u", secret), c.schemes)
			var logged bytes.Buffer
			tr.Logger = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
			defer tr.CloseIdleConnections()
			defer func() {
				basic := base64.StdEncoding.EncodeToString([]byte("u:" + secret))
				if l := logged.String(); strings.Contains(l, secret) || strings.Contains(l, basic) || strings.Contains(l, "Proxy-Authorization") {
					t.Errorf("the log holds credentials:\n%s", logged.String())
				}
				if logged.Len() == 0 {
					t.Errorf("nothing logged: the check above proves nothing")
				}
			}()
			_, err := tr.RoundTrip(mustGet(t, w.tlsOrigin.URL+"/t"))
			var pe *ferry.ProxyError
			if !errors.As(err, &pe) || pe.StatusCode != 407 || len(pe.Header.Values("Proxy-Authenticate")) == 0 || !errors.Is(err, ferry.ErrConnectRefused) {
				t.Fatalf("%v: CONNECT: err = %v, want a ProxyError 407 with the challenge", c, err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error holds the password: %v", err)
			}
			if n := len(w.httpProxy.Requests()); n > conn.MaxAuthLegs {
				t.Errorf("%d CONNECTs, want at most %d", n, conn.MaxAuthLegs)
			}
			w.httpProxy.Reset()
			code, _ := getBody(t, tr, mustGet(t, w.httpOrigin.URL+"/f"))
			if code != 407 {
				t.Errorf("%v: forwarded GET: status %d, want the 407", c, code)
			}
			if n := len(w.httpProxy.Requests()); n > conn.MaxAuthLegs {
				t.Errorf("%d forwarded requests, want at most %d", n, conn.MaxAuthLegs)
			}
			if n := len(w.httpOrigin.Received()); n != 0 {
				t.Errorf("origin got %d requests", n)
			}
		})
	}
}

// A forwarded POST is sent again with credentials only when it can be
// replayed; otherwise the caller gets the 407, and the body went out once.
func TestProxyAuthForwardBody(t *testing.T) {
	for _, tc := range []struct {
		name    string
		getBody bool
		want    int
	}{{"with GetBody", true, 200}, {"without GetBody", false, 407}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, proxytest.Options{Digest: "u:pw"})
			tr := authTransport(w, w.httpProxy.URLWithAuth("u", "pw"), []proxyauth.Scheme{&proxyauth.Digest{}})
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequest("POST", w.httpOrigin.URL+"/post", bytes.NewReader([]byte("payload")))
			if !tc.getBody {
				req.GetBody = nil
				req.Body = io.NopCloser(strings.NewReader("payload"))
			}
			code, _ := getBody(t, tr, req)
			if code != tc.want {
				t.Errorf("status %d, want %d", code, tc.want)
			}
			want := []string{"POST c1 -", "POST c1 Digest"}
			if !tc.getBody {
				want = want[:1]
			}
			if diff := cmp.Diff(want, authSummary(w.httpProxy)); diff != "" {
				t.Errorf("proxy saw (-want +got):\n%s", diff)
			}
		})
	}
}

// 50 concurrent requests through one Transport: each connection answers one
// 407 at most, and no request needs more than its connection's first.
func TestProxyAuthConcurrent(t *testing.T) {
	for _, c := range []authCase{
		{name: "digest", popts: proxytest.Options{Digest: "u:pw", DigestMaxCount: 1000}, schemes: []proxyauth.Scheme{&proxyauth.Digest{}}},
		{name: "connection-bound", popts: proxytest.Options{Handshake: "u:pw"}, schemes: []proxyauth.Scheme{handshake{}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, c.popts)
			tr := authTransport(w, w.httpProxy.URLWithAuth("u", "pw"), c.schemes)
			tr.MaxIdleConnsPerHost = 50
			defer tr.CloseIdleConnections()
			var wg sync.WaitGroup
			errs := make(chan error, 200)
			for g := 0; g < 50; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 4; i++ {
						resp, err := tr.RoundTrip(mustGet(t, w.httpOrigin.URL+"/c"))
						if err != nil {
							errs <- err
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							errs <- fmt.Errorf("status %d", resp.StatusCode)
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if n, conns := w.httpProxy.Challenged(), w.httpProxy.Conns(); n > conns {
				t.Errorf("%d 407s over %d connections, want at most one per connection", n, conns)
			}
		})
	}
}

// A connection-bound handshake left half done (the POST could not be
// replayed, so the caller got the 407) is not reused: the proxy would refuse
// a new handshake on it, as squid does.
func TestProxyAuthAbandonedHandshake(t *testing.T) {
	w := newWorld(t, proxytest.Options{Handshake: "u:pw"})
	tr := authTransport(w, w.httpProxy.URLWithAuth("u", "pw"), []proxyauth.Scheme{handshake{}})
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("POST", w.httpOrigin.URL+"/post", io.NopCloser(strings.NewReader("payload")))
	if code, _ := getBody(t, tr, req); code != 407 {
		t.Fatalf("POST without GetBody: %d, want the 407", code)
	}
	req, _ = http.NewRequest("POST", w.httpOrigin.URL+"/post", strings.NewReader("payload"))
	if code, _ := getBody(t, tr, req); code != 200 {
		t.Errorf("POST with GetBody: %d, want 200", code)
	}
	want := []string{"POST c1 Ferry-Handshake/hello", "POST c2 Ferry-Handshake/hello", "POST c2 Ferry-Handshake"}
	if diff := cmp.Diff(want, authSummary(w.httpProxy)); diff != "" {
		t.Errorf("proxy saw (-want +got):\n%s", diff)
	}
}
