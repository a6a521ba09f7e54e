package proxyauth_test

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ferryhttp/ferry/proxyauth"
)

func TestChallenges(t *testing.T) {
	cases := []struct {
		name   string
		fields []string
		want   []proxyauth.Challenge
	}{
		{"squid, one field per scheme", []string{`Negotiate`, `NTLM`, `Digest realm="ferry", nonce="abc/+=", qop="auth", stale=false`, `Basic realm="ferry proxy"`},
			[]proxyauth.Challenge{{Scheme: "Negotiate"}, {Scheme: "NTLM"},
				{Scheme: "Digest", Params: map[string]string{"realm": "ferry", "nonce": "abc/+=", "qop": "auth", "stale": "false"}},
				{Scheme: "Basic", Params: map[string]string{"realm": "ferry proxy"}}}},
		{"several in one field", []string{`Digest realm="a, b", qop="auth,auth-int", nonce=n1, Basic realm=x, NTLM`},
			[]proxyauth.Challenge{{Scheme: "Digest", Params: map[string]string{"realm": "a, b", "qop": "auth,auth-int", "nonce": "n1"}},
				{Scheme: "Basic", Params: map[string]string{"realm": "x"}}, {Scheme: "NTLM"}}},
		{"token68", []string{`NTLM TlRMTVNTUAACAAAA+/8=`, `Negotiate YIIB==, Basic realm="r"`},
			[]proxyauth.Challenge{{Scheme: "NTLM", Token68: "TlRMTVNTUAACAAAA+/8="}, {Scheme: "Negotiate", Token68: "YIIB=="},
				{Scheme: "Basic", Params: map[string]string{"realm": "r"}}}},
		{"quoted pairs and case", []string{`DIGEST Realm="say \"hi\" \\ bye" , NONCE = "n"`},
			[]proxyauth.Challenge{{Scheme: "DIGEST", Params: map[string]string{"realm": `say "hi" \ bye`, "nonce": "n"}}}},
		{"junk is skipped", []string{`, , "quoted junk", Basic realm="r", =x, NTLM`, `Basic realm="unterminated`},
			[]proxyauth.Challenge{{Scheme: "Basic", Params: map[string]string{"realm": "r"}}, {Scheme: "NTLM"},
				{Scheme: "Basic", Params: map[string]string{"realm": "unterminated"}}}},
		{"none", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := proxyauth.Challenges(http.Header{"Proxy-Authenticate": c.fields})
			if diff := cmp.Diff(c.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Challenges(%q) (-want +got):\n%s", c.fields, diff)
			}
		})
	}
}

// FuzzChallenges: any header value parses without panicking or looping, and
// every challenge has a scheme.
func FuzzChallenges(f *testing.F) {
	for _, s := range []string{`Digest realm="r", nonce="n", Basic realm=x`, `NTLM abc==`, `"`, `a=`, `a b=c,`, `\`, `Basic realm="\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range proxyauth.Challenges(http.Header{"Proxy-Authenticate": {s}}) {
			if c.Scheme == "" {
				t.Fatalf("challenge without scheme from %q", s)
			}
		}
	})
}
