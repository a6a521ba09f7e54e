package anyauth_test

import (
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry/internal/interop"
	"github.com/ferryhttp/ferry/proxyauth"
	"github.com/ferryhttp/ferry/proxyauth/negotiate"
	"github.com/ferryhttp/ferry/proxyauth/ntlm"
)

// recorder wraps a scheme and records the scheme of every
// Proxy-Authorization value its Authenticators produce.
type recorder struct {
	proxyauth.Scheme
	log *sentLog
}

type sentLog struct {
	mu   sync.Mutex
	sent []string
}

func (l *sentLog) add(v string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, _, _ := strings.Cut(v, " ")
	if n := len(l.sent); n > 0 && l.sent[n-1] == s {
		return // legs of one handshake count once
	}
	l.sent = append(l.sent, s)
}

func (l *sentLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.sent...)
}

func (r recorder) Start(p *url.URL) (proxyauth.Authenticator, error) {
	a, err := r.Scheme.Start(p)
	if err != nil {
		return nil, err
	}
	return recordingAuth{a, r.log}, nil
}

type recordingAuth struct {
	proxyauth.Authenticator
	log *sentLog
}

func (r recordingAuth) Authorize(req *proxyauth.Request) (string, error) {
	v, err := r.Authenticator.Authorize(req)
	if v != "" {
		r.log.add(v)
	}
	return v, err
}

// TestChoiceAgainstSquid: squid's any-scheme port offers Negotiate, NTLM,
// Digest and Basic. ferry answers with the strongest configured scheme,
// falls back when Negotiate has no ticket, and sends no preemptive Basic.
func TestChoiceAgainstSquid(t *testing.T) {
	kdc := interop.StartKDC(t)
	t.Setenv("KRB5_CONFIG", kdc.Config)
	e := interop.NewAuthEnv(t, interop.SquidOptions{NTLM: true, KDC: kdc})
	cache := filepath.Join(t.TempDir(), "ccache")
	t.Setenv("KRB5CCNAME", "FILE:"+cache) // filled by kinit below
	all := func() []proxyauth.Scheme {
		return []proxyauth.Scheme{proxyauth.Basic{}, &proxyauth.Digest{}, ntlm.Scheme{}, &negotiate.Scheme{}}
	}
	cases := []struct {
		name    string
		kinit   bool
		schemes []proxyauth.Scheme
		want    string
	}{
		{"all, no ticket: NTLM", false, all(), "NTLM"},
		{"basic and digest: Digest", false, []proxyauth.Scheme{proxyauth.Basic{}, &proxyauth.Digest{}}, "Digest"},
		{"basic only", false, []proxyauth.Scheme{proxyauth.Basic{}}, "Basic"},
		{"all, with a ticket: Negotiate", true, all(), "Negotiate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.kinit {
				kdc.Kinit(t, cache)
			}
			log := &sentLog{}
			var schemes []proxyauth.Scheme
			for _, s := range c.schemes {
				schemes = append(schemes, recorder{s, log})
			}
			before := e.Squid.LogCounts("GET")
			tr := e.Transport(interop.WithUser(e.Squid.Any, kdc.User, kdc.Password), schemes, nil)
			defer tr.CloseIdleConnections()
			for i := 0; i < 3; i++ {
				req, _ := http.NewRequest("GET", e.Plain.URL+"/any", nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("request %d: status %d", i, resp.StatusCode)
				}
			}
			got := log.get()
			want := []string{c.want} // and nothing else: no Basic before the choice
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("schemes sent (-want +got):\n%s", diff)
			}
			after := e.Squid.LogCounts("GET")
			n407 := after["407"] - before["407"]
			// Several schemes configured: the first request goes without
			// credentials (no preemptive Basic) and gets the one 407; with
			// Basic alone it goes out preemptively.
			wantN407 := 1
			if len(c.schemes) == 1 {
				wantN407 = 0
			}
			if c.want == "NTLM" {
				wantN407 = 2 // the offer, then NTLM's CHALLENGE
			}
			if n407 != wantN407 {
				t.Errorf("squid logged %d 407s, want %d", n407, wantN407)
			}
			t.Log(fmt.Sprint(c.name, ": ", got, ", ", n407, " 407s"))
		})
	}
}
