package proxyconfig

import (
	"net/url"
	"os"

	"golang.org/x/net/http/httpproxy"
)

// Env holds the proxy environment variables, apart from reading them.
type Env struct {
	HTTPProxy  string // HTTP_PROXY or http_proxy
	HTTPSProxy string // HTTPS_PROXY or https_proxy
	AllProxy   string // ALL_PROXY or all_proxy: fallback for both schemes
	NoProxy    string // NO_PROXY or no_proxy
	// CGI is true when the program runs as a CGI script (REQUEST_METHOD is
	// set): a request that would use HTTP_PROXY then fails with an error, as
	// in net/http, since a client can set it through the Proxy request header
	// (httpoxy); ALL_PROXY does not stand in for it.
	CGI bool
}

// FromEnvironment reads the variables, upper case first as httpproxy does.
func FromEnvironment() Env {
	return Env{
		HTTPProxy:  getEnvAny("HTTP_PROXY", "http_proxy"),
		HTTPSProxy: getEnvAny("HTTPS_PROXY", "https_proxy"),
		AllProxy:   getEnvAny("ALL_PROXY", "all_proxy"),
		NoProxy:    getEnvAny("NO_PROXY", "no_proxy"),
		CGI:        os.Getenv("REQUEST_METHOD") != "",
	}
}

func getEnvAny(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// ProxyFunc builds, once, the function that picks the proxy for a request
// URL, with httpproxy's rules: NO_PROXY names, leading dots, CIDRs, ports and
// "*"; loopback targets (localhost, 127.0.0.0/8, ::1) are never proxied.
// AllProxy fills in for an empty HTTPProxy or HTTPSProxy (NO_PROXY still
// applies). The chosen value is checked with Validate; a bad one is an
// error at request time.
func (e Env) ProxyFunc() func(*url.URL) (*url.URL, error) {
	cfg := httpproxy.Config{HTTPProxy: e.HTTPProxy, HTTPSProxy: e.HTTPSProxy, NoProxy: e.NoProxy, CGI: e.CGI}
	if cfg.HTTPProxy == "" && !e.CGI {
		cfg.HTTPProxy = e.AllProxy
	}
	if cfg.HTTPSProxy == "" {
		cfg.HTTPSProxy = e.AllProxy
	}
	pf := cfg.ProxyFunc()
	return func(u *url.URL) (*url.URL, error) {
		p, err := pf(u)
		if err != nil || p == nil {
			return p, err
		}
		if err := Validate(p); err != nil {
			return nil, err
		}
		return p, nil
	}
}
