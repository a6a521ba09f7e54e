package negotiate_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/internal/interop"
	"github.com/ferryhttp/ferry/proxyauth"
	"github.com/ferryhttp/ferry/proxyauth/negotiate"
)

// TestSquidNegotiate: Negotiate against squid's negotiate_kerberos_auth and
// a private KDC, logging in with the proxy URL's password: the checks every
// scheme passes, and handshakes per connection under load.
func TestSquidNegotiate(t *testing.T) {
	kdc := interop.StartKDC(t)
	t.Setenv("KRB5_CONFIG", kdc.Config)
	t.Setenv("KRB5CCNAME", "FILE:"+filepath.Join(t.TempDir(), "none"))
	e := interop.NewAuthEnv(t, interop.SquidOptions{KDC: kdc})
	schemes := func() []proxyauth.Scheme {
		return []proxyauth.Scheme{&negotiate.Scheme{ConfigFile: kdc.Config, UsePassword: true}}
	}
	interop.CheckScheme(t, e, e.Squid.Negotiate, kdc.User, kdc.Password, schemes)
	for _, load := range []struct{ goroutines, each int }{{50, 20}, {10, 100}} {
		t.Run(fmt.Sprintf("%d concurrent", load.goroutines), func(t *testing.T) {
			var tokens atomic.Int64
			counted := []proxyauth.Scheme{counting{&negotiate.Scheme{ConfigFile: kdc.Config, UsePassword: true}, &tokens}}
			l := interop.Concurrent(t, e, interop.WithUser(e.Squid.Negotiate, kdc.User, kdc.Password), counted, load.goroutines, load.each)
			// With one scheme configured the token goes out on each
			// connection's first request: a handshake costs no 407.
			t.Logf("negotiate: %v: %d handshakes (tokens sent), %.1f per 1000 requests",
				l, tokens.Load(), 1000*float64(tokens.Load())/float64(l.Requests))
			if int(tokens.Load()) != l.Conns {
				t.Errorf("%d tokens sent over %d connections, want one per connection", tokens.Load(), l.Conns)
			}
			if want := load.goroutines * load.each; l.Requests != want {
				t.Errorf("squid logged %d answered requests, want %d", l.Requests, want)
			}
			if l.N407 > l.Conns {
				t.Errorf("%v: want one handshake per connection at most", l)
			}
		})
	}
}

// From the user's ticket cache (kinit), the zero Scheme; without one, the
// scheme cannot start and ferry falls back to the next scheme offered.
func TestTicketCacheAndFallback(t *testing.T) {
	kdc := interop.StartKDC(t)
	t.Setenv("KRB5_CONFIG", kdc.Config)
	e := interop.NewAuthEnv(t, interop.SquidOptions{KDC: kdc})
	cache := filepath.Join(t.TempDir(), "ccache")

	t.Setenv("KRB5CCNAME", "FILE:"+cache) // not there yet
	s := &negotiate.Scheme{}
	if _, err := s.Start(e.Squid.Negotiate); !errors.Is(err, negotiate.ErrNoTicket) {
		t.Fatalf("Start without a ticket: %v, want ErrNoTicket", err)
	}
	// squid's any-scheme port offers Negotiate first; with no ticket,
	// Digest (with the URL's credentials) is next.
	tr := e.Transport(interop.WithUser(e.Squid.Any, kdc.User, kdc.Password), []proxyauth.Scheme{&negotiate.Scheme{}, &proxyauth.Digest{}}, nil)
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(mustGet(t, e.SecureURL+"/fallback"))
	if err != nil {
		t.Fatalf("fallback to Digest: %v", err)
	}
	resp.Body.Close()

	kdc.Kinit(t, cache)
	tr2 := e.Transport(e.Squid.Negotiate, []proxyauth.Scheme{&negotiate.Scheme{}}, nil)
	defer tr2.CloseIdleConnections()
	for _, target := range []string{e.Plain.URL + "/ccache", e.SecureURL + "/ccache"} {
		resp, err := tr2.RoundTrip(mustGet(t, target))
		if err != nil {
			t.Fatalf("%s with the ticket cache: %v", target, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s with the ticket cache: %d", target, resp.StatusCode)
		}
	}
	// A keytab of the user's keys (a service account) logs in too.
	tr4 := e.Transport(interop.WithUser(e.Squid.Negotiate, kdc.User, ""), []proxyauth.Scheme{&negotiate.Scheme{Keytab: kdc.UserKeytab(t)}}, nil)
	defer tr4.CloseIdleConnections()
	resp, err = tr4.RoundTrip(mustGet(t, e.SecureURL+"/keytab"))
	if err != nil {
		t.Fatalf("with a keytab: %v", err)
	}
	resp.Body.Close()

	// The proxy by IP: no principal HTTP/127.0.0.1, so a ProxyError 407.
	byIP := *e.Squid.Negotiate
	byIP.Host = "127.0.0.1:" + byIP.Port()
	tr3 := e.Transport(&byIP, []proxyauth.Scheme{&negotiate.Scheme{}}, nil)
	defer tr3.CloseIdleConnections()
	_, err = tr3.RoundTrip(mustGet(t, e.SecureURL+"/by-ip"))
	var pe *ferry.ProxyError
	if !errors.As(err, &pe) || pe.StatusCode != 407 {
		t.Errorf("proxy by IP: %v, want a ProxyError 407", err)
	}
}

func mustGet(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// counting wraps a scheme and counts the Proxy-Authorization values its
// Authenticators produce: the handshakes, for Negotiate.
type counting struct {
	proxyauth.Scheme
	n *atomic.Int64
}

func (c counting) Start(p *url.URL) (proxyauth.Authenticator, error) {
	a, err := c.Scheme.Start(p)
	if err != nil {
		return nil, err
	}
	return countingAuth{a, c.n}, nil
}

type countingAuth struct {
	proxyauth.Authenticator
	n *atomic.Int64
}

func (c countingAuth) Authorize(r *proxyauth.Request) (string, error) {
	v, err := c.Authenticator.Authorize(r)
	if v != "" {
		c.n.Add(1)
	}
	return v, err
}
