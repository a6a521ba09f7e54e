package proxyauth

import (
	"net/url"

	"github.com/ferryhttp/ferry/proxyconfig"
)

// Basic is Basic authentication (RFC 7617) with the user and password of
// the proxy URL. It sends them preemptively, from a connection's first
// request, once the proxy is known to want Basic (or when it is the only
// scheme configured). Without any ProxyAuth configured, ferry sends the
// proxy URL's credentials as preemptive Basic all the same, as net/http does.
type Basic struct{}

// Name returns "Basic".
func (Basic) Name() string { return "Basic" }

// Start fails with ErrNoCredentials when proxy has no user.
func (Basic) Start(proxy *url.URL) (Authenticator, error) {
	v, ok := proxyconfig.BasicAuth(proxy)
	if !ok {
		return nil, ErrNoCredentials
	}
	return basicAuth(v), nil
}

type basicAuth string

func (b basicAuth) Authorize(r *Request) (string, error) {
	if r.Challenges != nil && r.Sent != "" {
		return "", ErrRejected
	}
	return string(b), nil
}
