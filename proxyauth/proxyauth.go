package proxyauth

import (
	"errors"
	"net/url"
	"strings"
)

// Errors an Authenticator or Auth returns; they never hold credentials.
var (
	// ErrRejected: the proxy answered the credentials with another 407 (a
	// wrong user or password, an expired ticket). The exchange stops there:
	// falling back to a weaker scheme after a rejection would only hand the
	// same credentials out more readily.
	ErrRejected = errors.New("proxyauth: the proxy rejected the credentials")
	// ErrNoScheme: the proxy offered no scheme that is configured and can start.
	ErrNoScheme = errors.New("proxyauth: no configured scheme offered by the proxy could start")
	// ErrNoCredentials: the scheme needs a user and password and the proxy
	// URL has none.
	ErrNoCredentials = errors.New("proxyauth: no credentials in the proxy URL")
)

// Scheme is one authentication scheme. Values of ferry's schemes (Basic,
// Digest, and those of the nested modules) are configured in
// ferry.Transport.ProxyAuth; a user can plug in a scheme ferry does not ship
// by implementing these two methods and Authenticator.
type Scheme interface {
	// Name is the auth-scheme token the proxy offers in Proxy-Authenticate
	// ("Basic", "Digest", "NTLM", "Negotiate"); matched ignoring case.
	Name() string
	// Start returns a new Authenticator for one connection to proxy, whose
	// URL carries the user's credentials when the scheme takes them from
	// there. It is called from the goroutines of many connections at once.
	// An error means the scheme cannot start here (no credentials, no
	// Kerberos ticket): Auth then tries the next scheme the proxy offers.
	Start(proxy *url.URL) (Authenticator, error)
}

// Authenticator runs a scheme on one connection to the proxy. Its methods
// are called by one goroutine at a time (the connection's). If it has a
// method Close(), that is called when the connection closes or when its
// conversation with the proxy is over (a CONNECT tunnel was established).
type Authenticator interface {
	// Authorize returns the Proxy-Authorization value for the next leg of
	// r, or "" to send none (nothing to say before a challenge, or a
	// connection already authenticated). An error stops the exchange; on
	// the first leg of a request (r.Sent == "") Auth falls back to the next
	// scheme offered, otherwise the 407 goes to the caller.
	Authorize(r *Request) (string, error)
}

// Request is what an Authenticator is asked to authorize: one leg of a
// request to the proxy.
type Request struct {
	// Method is the request's method: CONNECT in tunnel mode, the
	// forwarded request's own in forward mode.
	Method string
	// Target is the request target as sent: "host:port" for CONNECT, the
	// absolute URL in forward mode.
	Target string
	// Challenges are the challenges of this Authenticator's scheme in the
	// 407 the previous leg of this request got (usually one); nil on a
	// request's first leg, which is sent before any 407 (preemptively).
	Challenges []Challenge
	// Sent is the Proxy-Authorization value the previous leg of this
	// request carried, "" when it carried none: a challenge after credentials
	// were sent means they were not accepted (unless the scheme's challenge
	// says otherwise, as Digest's stale=true or NTLM's CHALLENGE do).
	Sent string
}

// closer is the optional Close of an Authenticator.
type closer interface{ Close() }

// rank orders schemes as curl does for --anyauth: the strongest first.
// Schemes ferry does not know rank above all, in their configured order:
// someone plugged them in on purpose.
func rank(name string) int {
	switch strings.ToLower(name) {
	case "negotiate":
		return 4
	case "ntlm":
		return 3
	case "digest":
		return 2
	case "basic":
		return 1
	}
	return 5
}

// schemeOf returns the scheme token of a Proxy-Authorization value.
func schemeOf(v string) string {
	if i := strings.IndexByte(v, ' '); i >= 0 {
		return v[:i]
	}
	return v
}
