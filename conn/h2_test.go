package conn_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry/conn"
)

// h2Origin is an httptest TLS server with HTTP/2 enabled (h2 true) or not,
// answering with the protocol it saw.
func h2Origin(t *testing.T, h2 bool) (*httptest.Server, *tls.Config) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = h2
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, &tls.Config{RootCAs: pool}
}

func endpointOfURL(t *testing.T, rawURL string) conn.Endpoint {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return conn.Endpoint{Scheme: u.Scheme, Host: u.Hostname(), Port: u.Port()}
}

// TestH2EngineOnFinishedConn: a connection Connect finished (ALPN offering h2)
// is run by the standard library's HTTP/2 through NewClientConn; an origin
// without HTTP/2 makes ALPN choose http/1.1 and the engine refuses it.
func TestH2EngineOnFinishedConn(t *testing.T) {
	for _, tc := range []struct {
		name      string
		serverH2  bool
		offer     bool
		wantALPN  string
		wantProto string
	}{
		{"h2 origin, offered", true, true, "h2", "HTTP/2.0"},
		{"h2 origin, not offered", true, false, "", ""},
		{"h1 origin, offered", false, true, "http/1.1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, cfg := h2Origin(t, tc.serverH2)
			c := conn.New(endpointOfURL(t, srv.URL), nil, &conn.Options{TLSConfig: cfg})
			c.OfferHTTP2(tc.offer, false)
			if err := c.Connect(t.Context()); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.NegotiatedProtocol(); got != tc.wantALPN {
				t.Fatalf("ALPN = %q, want %q", got, tc.wantALPN)
			}
			eng := conn.NewH2Engine(conn.H2Settings{})
			cc, err := eng.ClientConn(c, false)
			if tc.wantProto == "" {
				if err == nil {
					cc.Close()
					t.Fatal("ClientConn on a connection without h2: no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/x", nil)
			resp, err := cc.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if diff := cmp.Diff(tc.wantProto+" "+tc.wantProto, resp.Proto+" "+string(b)); diff != "" {
				t.Errorf("client proto, origin proto (-want +got):\n%s", diff)
			}
		})
	}
}

// TestH2NeverOfferedToProxy: the TLS handshake with an https proxy offers
// http/1.1 only, even when the target's offers h2.
func TestH2NeverOfferedToProxy(t *testing.T) {
	offered := []string{"not called"}
	srv, cfg := h2Origin(t, true)
	srv.TLS.GetConfigForClient = func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
		offered = hi.SupportedProtos
		return nil, nil
	}
	// A config shared with net/http often offers h2 itself.
	cfg.NextProtos = []string{"h2", "http/1.1"}
	// The "proxy" is the TLS server itself; only its handshake matters.
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	proxyURL := &url.URL{Scheme: "https", Host: srv.Listener.Addr().String()}
	c := conn.New(conn.Endpoint{Scheme: "https", Host: host, Port: port}, proxyURL, &conn.Options{ProxyTLSConfig: cfg})
	c.OfferHTTP2(true, false)
	err := c.Connect(t.Context())
	c.Close()
	_ = err // the CONNECT fails: the server is not a proxy
	if diff := cmp.Diff([]string{"http/1.1"}, offered); diff != "" {
		t.Errorf("ALPN offered to the proxy (-want +got):\n%s", diff)
	}
}

// TestALPNOffers: what the target's handshake offers for each setting.
func TestALPNOffers(t *testing.T) {
	for _, c := range []struct {
		name   string
		set    func(*conn.Conn)
		protos []string
		want   []string
	}{
		{"default", func(*conn.Conn) {}, nil, nil},
		{"default, config offers h2", func(*conn.Conn) {}, []string{"h2", "http/1.1"}, []string{"http/1.1"}},
		{"h2", func(c *conn.Conn) { c.OfferHTTP2(true, false) }, nil, []string{"h2", "http/1.1"}},
		{"h2 only", func(c *conn.Conn) { c.OfferHTTP2(true, true) }, nil, []string{"h2"}},
		{"http/1.1 only (Upgrade)", func(c *conn.Conn) { c.OfferHTTP1Only() }, nil, []string{"http/1.1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			offered := []string{"not called"}
			srv, cfg := h2Origin(t, true)
			srv.TLS.GetConfigForClient = func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
				offered = hi.SupportedProtos
				return nil, nil
			}
			cfg.NextProtos = c.protos
			cn := conn.New(endpointOfURL(t, srv.URL), nil, &conn.Options{TLSConfig: cfg})
			c.set(cn)
			if err := cn.Connect(t.Context()); err != nil {
				t.Fatal(err)
			}
			cn.Close()
			if diff := cmp.Diff(c.want, offered); diff != "" {
				t.Errorf("offered (-want +got):\n%s", diff)
			}
		})
	}
}
