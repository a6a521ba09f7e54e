package proxyauth_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry/proxyauth"
)

// fake is a scheme for the choice tests: it answers any challenge with
// "<name> leg<n>" and can refuse to start.
type fake struct {
	name    string
	noStart bool
	starts  *int
}

func (f fake) Name() string { return f.name }

func (f fake) Start(*url.URL) (proxyauth.Authenticator, error) {
	if f.starts != nil {
		*f.starts++
	}
	if f.noStart {
		return nil, errors.New("no ticket")
	}
	return &fakeAuth{name: f.name}, nil
}

type fakeAuth struct {
	name string
	legs int
}

func (a *fakeAuth) Authorize(r *proxyauth.Request) (string, error) {
	if r.Challenges == nil && a.legs == 0 {
		return "", nil
	}
	a.legs++
	if r.Sent != "" && a.legs > 2 {
		return "", proxyauth.ErrRejected
	}
	return a.name + " leg" + string(rune('0'+a.legs)), nil
}

var proxyURL = &url.URL{Scheme: "http", Host: "127.0.0.1:3128", User: url.UserPassword("u", "secret")}

func offer(schemes ...string) http.Header {
	return http.Header{"Proxy-Authenticate": schemes}
}

func TestChoosesStrongestOffered(t *testing.T) {
	configured := []proxyauth.Scheme{proxyauth.Basic{}, &proxyauth.Digest{}, fake{name: "NTLM"}, fake{name: "Negotiate"}}
	cases := []struct {
		offered []string
		want    string
	}{
		{[]string{`Basic realm="r"`, `Digest realm="r", nonce="n"`, `NTLM`, `Negotiate`}, "Negotiate"},
		{[]string{`Basic realm="r"`, `Digest realm="r", nonce="n"`, `NTLM`}, "NTLM"},
		{[]string{`Basic realm="r"`, `Digest realm="r", nonce="n"`}, "Digest"},
		{[]string{`Basic realm="r"`}, "Basic"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.offered, "|"), func(t *testing.T) {
			s := proxyauth.New(configured).Session(proxyURL)
			if v, err := s.Authorization("GET", "http://o/", nil); v != "" || err != nil {
				t.Fatalf("first leg with several schemes and no choice yet: %q %v, want nothing", v, err)
			}
			v, err := s.Authorization("GET", "http://o/", offer(c.offered...))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Fields(v)[0]; got != c.want {
				t.Errorf("chose %s, want %s (%s)", got, c.want, v)
			}
		})
	}
}

func TestFallsBackWhenSchemeCannotStart(t *testing.T) {
	starts := 0
	a := proxyauth.New([]proxyauth.Scheme{fake{name: "Negotiate", noStart: true, starts: &starts}, proxyauth.Basic{}})
	s := a.Session(proxyURL)
	v, err := s.Authorization("CONNECT", "h:443", offer("Negotiate", `Basic realm="r"`))
	if err != nil || !strings.HasPrefix(v, "Basic ") {
		t.Fatalf("got %q, %v; want Basic", v, err)
	}
	// The choice is remembered: a new connection sends Basic at once.
	v, err = a.Session(proxyURL).Authorization("CONNECT", "h:443", nil)
	if err != nil || !strings.HasPrefix(v, "Basic ") {
		t.Errorf("next connection's first leg: %q, %v; want Basic", v, err)
	}
	// Nothing that can start: ErrNoScheme, with the reason, without secrets.
	_, err = proxyauth.New([]proxyauth.Scheme{fake{name: "Negotiate", noStart: true}}).Session(proxyURL).
		Authorization("CONNECT", "h:443", offer("Negotiate", `Basic realm="r"`))
	if !errors.Is(err, proxyauth.ErrNoScheme) || !strings.Contains(err.Error(), "no ticket") || strings.Contains(err.Error(), "secret") {
		t.Errorf("err = %v, want ErrNoScheme with the reason", err)
	}
}

func TestRejectedAfterCredentials(t *testing.T) {
	a := proxyauth.New([]proxyauth.Scheme{proxyauth.Basic{}, &proxyauth.Digest{}})
	s := a.Session(proxyURL)
	_, err := s.Authorization("GET", "http://o/", offer(`Basic realm="r"`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Authorization("GET", "http://o/", offer(`Basic realm="r"`, `Digest realm="r", nonce="n"`))
	if !errors.Is(err, proxyauth.ErrRejected) {
		t.Errorf("err = %v, want ErrRejected (no fallback to another scheme after a rejection)", err)
	}
	if err != nil && strings.Contains(err.Error(), "secret") {
		t.Errorf("error holds the password: %v", err)
	}
}

// One scheme configured: it starts on the first leg (curl's --proxy-basic),
// and Digest, having no nonce yet, sends nothing.
func TestSingleSchemeIsPreemptive(t *testing.T) {
	got := []string{}
	for _, sc := range []proxyauth.Scheme{proxyauth.Basic{}, &proxyauth.Digest{}} {
		v, err := proxyauth.New([]proxyauth.Scheme{sc}).Session(proxyURL).Authorization("GET", "http://o/", nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if diff := cmp.Diff([]string{"Basic dTpzZWNyZXQ=", ""}, got); diff != "" {
		t.Errorf("first legs (-want +got):\n%s", diff)
	}
}

// A user's own scheme ranks above the built-in ones and runs its legs.
func TestPluggedScheme(t *testing.T) {
	s := proxyauth.New([]proxyauth.Scheme{proxyauth.Basic{}, fake{name: "X-Corp"}}).Session(proxyURL)
	var got []string
	for i := 0; i < 3; i++ {
		v, err := s.Authorization("GET", "http://o/", offer(`Basic realm="r"`, "X-Corp tok"))
		got = append(got, v)
		if err != nil {
			got = append(got, err.Error())
			break
		}
	}
	want := []string{"X-Corp leg1", "X-Corp leg2", "", proxyauth.ErrRejected.Error()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("legs (-want +got):\n%s", diff)
	}
}
