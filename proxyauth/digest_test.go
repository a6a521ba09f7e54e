package proxyauth_test

import (
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry/proxyauth"
)

func challenge(t *testing.T, v string) []proxyauth.Challenge {
	t.Helper()
	chs := proxyauth.Challenges(http.Header{"Proxy-Authenticate": {v}})
	if len(chs) == 0 {
		t.Fatalf("no challenge in %q", v)
	}
	return chs
}

// params parses a Digest credentials value with the challenge parser (the
// grammar is the same) so tests compare fields, not their order.
func params(t *testing.T, v string) map[string]string {
	t.Helper()
	chs := challenge(t, v)
	if len(chs) != 1 || !chs[0].Is("Digest") {
		t.Fatalf("not one Digest value: %q", v)
	}
	return chs[0].Params
}

// The examples of RFC 7616 section 3.9.1 (SHA-256 and MD5, same inputs) and
// of RFC 2617 section 3.5 (MD5, qop=auth).
func TestDigestRFCExamples(t *testing.T) {
	const (
		nonce7616  = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
		opaque7616 = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
		cnonce7616 = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
	)
	cases := []struct {
		name, user, pass, cnonce, challenge string
		want                                map[string]string
	}{
		{
			name: "RFC 7616 SHA-256", user: "Mufasa", pass: "Circle of Life", cnonce: cnonce7616,
			challenge: `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="` + nonce7616 + `", opaque="` + opaque7616 + `"`,
			want: map[string]string{"username": "Mufasa", "realm": "http-auth@example.org", "uri": "/dir/index.html",
				"algorithm": "SHA-256", "nonce": nonce7616, "nc": "00000001", "cnonce": cnonce7616, "qop": "auth",
				"response": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", "opaque": opaque7616},
		},
		{
			name: "RFC 7616 MD5", user: "Mufasa", pass: "Circle of Life", cnonce: cnonce7616,
			challenge: `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="` + nonce7616 + `", opaque="` + opaque7616 + `"`,
			want: map[string]string{"username": "Mufasa", "realm": "http-auth@example.org", "uri": "/dir/index.html",
				"algorithm": "MD5", "nonce": nonce7616, "nc": "00000001", "cnonce": cnonce7616, "qop": "auth",
				"response": "8ca523f5e9506fed4657c9700eebdbec", "opaque": opaque7616},
		},
		{
			name: "RFC 2617 MD5", user: "Mufasa", pass: "Circle Of Life", cnonce: "0a4f113b",
			challenge: `Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"`,
			want: map[string]string{"username": "Mufasa", "realm": "testrealm@host.com", "uri": "/dir/index.html",
				"nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093", "nc": "00000001", "cnonce": "0a4f113b", "qop": "auth",
				"response": "6629fae49393a05397450978507c4ef1", "opaque": "5ccc069c403ebaf9f0171e9517f40e41"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := &proxyauth.Digest{}
			proxyauth.SetCnonce(d, c.cnonce)
			a, err := d.Start(&url.URL{Scheme: "http", Host: "proxy:3128", User: url.UserPassword(c.user, c.pass)})
			if err != nil {
				t.Fatal(err)
			}
			v, err := a.Authorize(&proxyauth.Request{Method: "GET", Target: "/dir/index.html", Challenges: challenge(t, c.challenge)})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, params(t, v)); diff != "" {
				t.Errorf("Authorize (-want +got):\n%s\n%s", diff, v)
			}
		})
	}
}

func digestFor(t *testing.T, d *proxyauth.Digest, user, pass string) proxyauth.Authenticator {
	t.Helper()
	a, err := d.Start(&url.URL{Scheme: "http", Host: "proxy:3128", User: url.UserPassword(user, pass)})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A nonce is counted on every request, goes with its connection's
// Authenticator, and passes to the next connection when that one closes.
func TestDigestNonceCountingAndHandOver(t *testing.T) {
	d := &proxyauth.Digest{}
	first := digestFor(t, d, "u", "p")
	if v, err := first.Authorize(&proxyauth.Request{Method: "GET", Target: "http://o/"}); v != "" || err != nil {
		t.Fatalf("before any challenge: %q, %v; want nothing", v, err)
	}
	ch := challenge(t, `Digest realm="r", nonce="n1", qop="auth", stale=false`)
	var ncs []string
	v, err := first.Authorize(&proxyauth.Request{Method: "GET", Target: "http://o/", Challenges: ch})
	if err != nil {
		t.Fatal(err)
	}
	ncs = append(ncs, params(t, v)["nc"])
	for i := 0; i < 2; i++ {
		v, _ := first.Authorize(&proxyauth.Request{Method: "GET", Target: "http://o/"})
		ncs = append(ncs, params(t, v)["nc"])
	}
	// A second connection meanwhile has no nonce of its own.
	second := digestFor(t, d, "u", "p")
	if v, _ := second.Authorize(&proxyauth.Request{Method: "GET", Target: "http://o/"}); v != "" {
		t.Errorf("second connection used a nonce the first holds: %q", v)
	}
	first.(interface{ Close() }).Close()
	v, _ = second.Authorize(&proxyauth.Request{Method: "GET", Target: "http://o/"})
	p := params(t, v)
	ncs = append(ncs, p["nc"])
	if diff := cmp.Diff([]string{"00000001", "00000002", "00000003", "00000004"}, ncs); diff != "" {
		t.Errorf("nc (-want +got):\n%s", diff)
	}
	if p["nonce"] != "n1" {
		t.Errorf("nonce = %q, want the first connection's n1", p["nonce"])
	}
	// Another proxy URL (other credentials) never gets it.
	third := digestFor(t, d, "u", "other")
	if v, _ := third.Authorize(&proxyauth.Request{Method: "GET", Target: "http://o/"}); v != "" {
		t.Errorf("nonce crossed credentials: %q", v)
	}
}

func TestDigestStaleAndRejected(t *testing.T) {
	d := &proxyauth.Digest{}
	a := digestFor(t, d, "u", "p")
	v1, err := a.Authorize(&proxyauth.Request{Method: "CONNECT", Target: "h:443", Challenges: challenge(t, `Digest realm="r", nonce="n1", qop="auth"`)})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := a.Authorize(&proxyauth.Request{Method: "CONNECT", Target: "h:443", Sent: v1,
		Challenges: challenge(t, `Digest realm="r", nonce="n2", qop="auth", stale=true`)})
	if err != nil {
		t.Fatalf("stale=true: %v", err)
	}
	if p := params(t, v2); p["nonce"] != "n2" || p["nc"] != "00000001" {
		t.Errorf("after stale: nonce %q nc %q, want n2 00000001", p["nonce"], p["nc"])
	}
	_, err = a.Authorize(&proxyauth.Request{Method: "CONNECT", Target: "h:443", Sent: v2,
		Challenges: challenge(t, `Digest realm="r", nonce="n3", qop="auth", stale=false`)})
	if !errors.Is(err, proxyauth.ErrRejected) {
		t.Errorf("credentials answered with a fresh challenge: %v, want ErrRejected", err)
	}
	if err != nil && strings.Contains(err.Error(), "p") && strings.Contains(err.Error(), "u:p") {
		t.Errorf("error holds credentials: %v", err)
	}
}

func TestDigestAlgorithms(t *testing.T) {
	cases := []struct {
		challenge string
		wantAlg   string
		wantErr   error
	}{
		{`Digest realm="r", nonce="n"`, "", nil},
		{`Digest realm="r", nonce="n", algorithm=MD5-sess, qop=auth`, "MD5-sess", nil},
		{`Digest realm="r", nonce="n", algorithm=SHA-256-sess, qop=auth`, "SHA-256-sess", nil},
		{`Digest realm="r", nonce="n", algorithm=MD5, qop=auth, Digest realm="r", nonce="n", algorithm=SHA-256, qop=auth`, "SHA-256", nil},
		{`Digest realm="r", nonce="n", algorithm=SHA-512-256, qop=auth`, "SHA-512-256", nil},
		{`Digest realm="r", nonce="n", algorithm=SHA3, qop=auth`, "", proxyauth.ErrDigestUnsupported},
		{`Digest realm="r", nonce="n", qop="auth-int"`, "", proxyauth.ErrDigestUnsupported},
		{`Digest realm="r", nonce="n", algorithm=-sess`, "", proxyauth.ErrDigestUnsupported},
		{`Digest realm="r"`, "", proxyauth.ErrDigestUnsupported},
	}
	for _, c := range cases {
		t.Run(c.challenge, func(t *testing.T) {
			a := digestFor(t, &proxyauth.Digest{}, "u", "p")
			v, err := a.Authorize(&proxyauth.Request{Method: "GET", Target: "/", Challenges: challenge(t, c.challenge)})
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if err != nil {
				return
			}
			if got := params(t, v)["algorithm"]; got != c.wantAlg {
				t.Errorf("algorithm = %q, want %q (%s)", got, c.wantAlg, v)
			}
		})
	}
}

func TestDigestUserhashAndUnicodeUser(t *testing.T) {
	a := digestFor(t, &proxyauth.Digest{}, "Jäsøn Doe", "Secret, or not?")
	v, err := a.Authorize(&proxyauth.Request{Method: "GET", Target: "/doe.json",
		Challenges: challenge(t, `Digest realm="api@example.org", qop=auth, algorithm=SHA-512-256, nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", charset=UTF-8, userhash=true`)})
	if err != nil {
		t.Fatal(err)
	}
	// RFC 7616 section 3.9.2's example: its printed hashes do not follow
	// from its inputs (erratum 4897), so the user name hash is checked
	// against the definition, H(username ":" realm).
	sum := sha512.Sum512_256([]byte("Jäsøn Doe:api@example.org"))
	if got, want := params(t, v)["username"], hex.EncodeToString(sum[:]); got != want {
		t.Errorf("userhash username = %q, want %q", got, want)
	}
	a = digestFor(t, &proxyauth.Digest{}, "Jäsøn Doe", "x")
	v, _ = a.Authorize(&proxyauth.Request{Method: "GET", Target: "/", Challenges: challenge(t, `Digest realm="r", nonce="n", qop=auth`)})
	if !strings.Contains(v, `username*=UTF-8''J%C3%A4s%C3%B8n%20Doe`) {
		t.Errorf("non-ASCII user name not as an ext-value: %s", v)
	}
}

// A proxy that forgot a nonce (another node of a farm, a restart) may
// answer it with a fresh challenge and no stale=true: credentials from an
// earlier request's nonce get one more try with the new nonce; credentials
// from this request's own challenge do not.
func TestDigestForgottenNonce(t *testing.T) {
	a := digestFor(t, &proxyauth.Digest{}, "u", "p")
	if _, err := a.Authorize(&proxyauth.Request{Method: "GET", Target: "/", Challenges: challenge(t, `Digest realm="r", nonce="n1", qop=auth`)}); err != nil {
		t.Fatal(err)
	}
	later, _ := a.Authorize(&proxyauth.Request{Method: "GET", Target: "/"}) // a later request, nonce n1
	retry, err := a.Authorize(&proxyauth.Request{Method: "GET", Target: "/", Sent: later,
		Challenges: challenge(t, `Digest realm="r", nonce="n2", qop=auth`)})
	if err != nil || params(t, retry)["nonce"] != "n2" {
		t.Fatalf("after a forgotten nonce: %q, %v; want a try with n2", retry, err)
	}
	_, err = a.Authorize(&proxyauth.Request{Method: "GET", Target: "/", Sent: retry,
		Challenges: challenge(t, `Digest realm="r", nonce="n3", qop=auth`)})
	if !errors.Is(err, proxyauth.ErrRejected) {
		t.Errorf("the fresh nonce refused too: %v, want ErrRejected", err)
	}
}
