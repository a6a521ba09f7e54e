package ntlm_test

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/ferryhttp/ferry/internal/interop"
	"github.com/ferryhttp/ferry/proxyauth"
	"github.com/ferryhttp/ferry/proxyauth/ntlm"
)

var proxyURL = &url.URL{Scheme: "http", Host: "127.0.0.1:3128", User: url.UserPassword("ferry", "interop")}

func challenges(v string) []proxyauth.Challenge {
	return proxyauth.Challenges(http.Header{"Proxy-Authenticate": {v}})
}

// The legs of a handshake, and what ends one: the messages go-ntlmssp makes,
// checked by the squid helper the interop tests use (run here as squid
// runs it: lines on stdin and stdout).
func TestHandshakeWithHelper(t *testing.T) {
	dir := t.TempDir()
	helper := interop.BuildNTLMHelper(t, dir)
	pwfile := dir + "/passwords"
	if err := writeFile(pwfile, "ferry:interop\n"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		password string
		want     string
	}{{"interop", "AF ferry"}, {"wrong", "NA wrong password"}} {
		t.Run(c.password, func(t *testing.T) {
			cmd := exec.Command(helper, pwfile)
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { stdin.Close(); cmd.Wait() }()
			lines := bufio.NewScanner(stdout)
			ask := func(line string) string {
				fmt.Fprintln(stdin, line)
				if !lines.Scan() {
					t.Fatalf("helper said nothing to %q", line)
				}
				return lines.Text()
			}
			u := *proxyURL
			u.User = url.UserPassword("ferry", c.password)
			a, err := ntlm.Scheme{}.Start(&u)
			if err != nil {
				t.Fatal(err)
			}
			neg, err := a.Authorize(&proxyauth.Request{Method: "CONNECT", Target: "h:443"})
			if err != nil || !strings.HasPrefix(neg, "NTLM ") {
				t.Fatalf("first leg: %q, %v", neg, err)
			}
			tt := ask("YR " + strings.TrimPrefix(neg, "NTLM "))
			if !strings.HasPrefix(tt, "TT ") {
				t.Fatalf("helper: %q", tt)
			}
			auth, err := a.Authorize(&proxyauth.Request{Method: "CONNECT", Target: "h:443", Challenges: challenges("NTLM " + tt[3:]), Sent: neg})
			if err != nil {
				t.Fatalf("AUTHENTICATE: %v", err)
			}
			if got := ask("KK " + strings.TrimPrefix(auth, "NTLM ")); got != c.want {
				t.Errorf("helper: %q, want %q", got, c.want)
			}
			// The proxy's bare NTLM after our AUTHENTICATE: rejected.
			_, err = a.Authorize(&proxyauth.Request{Method: "CONNECT", Target: "h:443", Challenges: challenges("NTLM"), Sent: auth})
			if !errors.Is(err, proxyauth.ErrRejected) {
				t.Errorf("bare challenge after AUTHENTICATE: %v, want ErrRejected", err)
			}
		})
	}
}

// squid's ntlm_fake_auth CHALLENGE, whose TargetName offset is garbage:
// a clear error, no panic, no credentials in it.
func TestBadChallenge(t *testing.T) {
	a, _ := ntlm.Scheme{}.Start(proxyURL)
	neg, _ := a.Authorize(&proxyauth.Request{Method: "GET", Target: "http://o/"})
	bad := make([]byte, 48)
	copy(bad, "NTLMSSP\x00\x02\x00\x00\x00\x10\x00\x10\x00\xae\xaa\xaa\xaa")
	_, err := a.Authorize(&proxyauth.Request{Method: "GET", Target: "http://o/", Sent: neg,
		Challenges: challenges("NTLM " + base64.StdEncoding.EncodeToString(bad))})
	if err == nil || strings.Contains(err.Error(), "interop") {
		t.Errorf("err = %v, want an error without the password", err)
	}
	if _, err := (ntlm.Scheme{}).Start(&url.URL{Scheme: "http", Host: "p"}); !errors.Is(err, proxyauth.ErrNoCredentials) {
		t.Errorf("Start without a user: %v", err)
	}
}

// TestSquidNTLM: NTLM against a real squid with the test helper: the
// checks every scheme passes, and handshakes per connection under load.
func TestSquidNTLM(t *testing.T) {
	e := interop.NewAuthEnv(t, interop.SquidOptions{NTLM: true})
	schemes := func() []proxyauth.Scheme { return []proxyauth.Scheme{ntlm.Scheme{}} }
	interop.CheckScheme(t, e, e.Squid.NTLM, "ferry", "interop", schemes)
	for _, load := range []struct{ goroutines, each int }{{50, 20}, {10, 100}} {
		t.Run(fmt.Sprintf("%d concurrent", load.goroutines), func(t *testing.T) {
			l := interop.Concurrent(t, e, interop.WithUser(e.Squid.NTLM, "ferry", "interop"), schemes(), load.goroutines, load.each)
			// Each handshake costs squid one 407 (NEGOTIATE → CHALLENGE).
			t.Logf("ntlm: %v: %.1f handshakes per 1000 requests, %.2f per connection",
				l, 1000*float64(l.N407)/float64(l.Requests), float64(l.N407)/float64(l.Conns))
			if want := load.goroutines * load.each; l.Requests != want {
				t.Errorf("squid logged %d answered requests, want %d", l.Requests, want)
			}
			if l.N407 > l.Conns {
				t.Errorf("%v: want one handshake per connection at most", l)
			}
		})
	}
}
