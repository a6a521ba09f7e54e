package interop_test

import (
	"fmt"
	"testing"

	"github.com/ferryhttp/ferry/internal/interop"
	"github.com/ferryhttp/ferry/proxyauth"
)

// TestSquidDigest: Digest against squid's digest_file_auth, and the extra
// round trips it costs under load, counted in squid's access log.
func TestSquidDigest(t *testing.T) {
	e := interop.NewAuthEnv(t, interop.SquidOptions{})
	digest := func() []proxyauth.Scheme { return []proxyauth.Scheme{&proxyauth.Digest{}} }
	interop.CheckScheme(t, e, e.Squid.Digest, "ferry", "interop", digest)
	for _, load := range []struct{ goroutines, each int }{{50, 20}, {10, 100}} {
		t.Run(fmt.Sprintf("%d concurrent", load.goroutines), func(t *testing.T) {
			l := interop.Concurrent(t, e, interop.WithUser(e.Squid.Digest, "ferry", "interop"), digest(), load.goroutines, load.each)
			t.Logf("digest: %v: %.3f extra round trips per request after each connection's first (squid retires a nonce after 50 uses)",
				l, float64(l.N407-l.Conns)/float64(l.Requests))
			if want := load.goroutines * load.each; l.Requests != want {
				t.Errorf("squid logged %d answered requests, want %d", l.Requests, want)
			}
			// One 407 per connection for its nonce, one each time squid
			// retires a nonce after 50 uses; never one per request.
			if max := 2*l.Conns + l.Requests/50; l.N407 > max {
				t.Errorf("%v: want at most %d 407s", l, max)
			}
		})
	}
}

// TestSquidBasic: Basic configured as a scheme against basic_ncsa_auth: the
// same checks; it goes out from the first request, so load costs no 407.
func TestSquidBasic(t *testing.T) {
	e := interop.NewAuthEnv(t, interop.SquidOptions{})
	basic := func() []proxyauth.Scheme { return []proxyauth.Scheme{proxyauth.Basic{}} }
	interop.CheckScheme(t, e, e.Squid.Auth, "ferry", "interop", basic)
	t.Run("50 concurrent", func(t *testing.T) {
		l := interop.Concurrent(t, e, interop.WithUser(e.Squid.Auth, "ferry", "interop"), basic(), 50, 20)
		t.Logf("basic: %v", l)
		if l.Requests != 1000 || l.N407 != 0 {
			t.Errorf("%v: want 1000 requests and no 407", l)
		}
	})
}
