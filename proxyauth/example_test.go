package proxyauth_test

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/ferryhttp/ferry/proxyauth"
)

// tokenScheme is a scheme ferry does not ship: a proxy that wants
// "Proxy-Authorization: X-Token <token>".
type tokenScheme struct{ token string }

func (s tokenScheme) Name() string { return "X-Token" }

func (s tokenScheme) Start(*url.URL) (proxyauth.Authenticator, error) { return s, nil }

func (s tokenScheme) Authorize(r *proxyauth.Request) (string, error) {
	if r.Sent != "" {
		return "", proxyauth.ErrRejected // the proxy said no to our token
	}
	return "X-Token " + s.token, nil
}

// A scheme of your own: implement Scheme (Name, Start) and Authenticator
// (Authorize), and list it in ferry.Transport.ProxyAuth. Here Auth is driven
// by hand, as a connection would: the proxy's 407 offers X-Token and Basic.
func Example_customScheme() {
	auth := proxyauth.New([]proxyauth.Scheme{proxyauth.Basic{}, tokenScheme{"abc123"}})
	proxy := &url.URL{Scheme: "http", Host: "proxy:3128", User: url.UserPassword("alice", "s3cret")}
	conn := auth.Session(proxy)

	first, _ := conn.Authorization("GET", "http://example.com/", nil)
	fmt.Printf("first request: %q\n", first)
	challenge := http.Header{"Proxy-Authenticate": {`Basic realm="corp"`, `X-Token`}}
	next, _ := conn.Authorization("GET", "http://example.com/", challenge)
	fmt.Printf("after the 407: %q\n", next)
	_, err := conn.Authorization("GET", "http://example.com/", challenge)
	fmt.Println("after a second 407:", err)
	later, _ := auth.Session(proxy).Authorization("GET", "http://example.com/", nil)
	fmt.Printf("a new connection's first request: %q\n", later)
	// Output:
	// first request: ""
	// after the 407: "X-Token abc123"
	// after a second 407: proxyauth: the proxy rejected the credentials
	// a new connection's first request: "X-Token abc123"
}
