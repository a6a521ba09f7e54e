package main

import (
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/ferryhttp/ferry/proxyauth"
	"github.com/ferryhttp/ferry/proxyauth/negotiate"
	"github.com/ferryhttp/ferry/proxyauth/ntlm"
)

// proxyAuthOptions are the proxy authentication flags, as curl spells them.
type proxyAuthOptions struct {
	User    string   // -U/--proxy-user user:password
	HasUser bool     // -U was given
	Schemes []string // basic, digest, ntlm, negotiate: the scheme flags given
}

func (a *proxyAuthOptions) register(fs *flagSet) {
	fs.add("-U, --proxy-user", "U:PASS", "credentials for the proxy; alone, sent as preemptive Basic",
		func(v string) error {
			if v == "" {
				return usageErr("--proxy-user: want user:password")
			}
			a.User, a.HasUser = v, true
			return nil
		})
	scheme := func(names, help string, schemes ...string) {
		fs.add(names, "", help, func(string) error { a.Schemes = append(a.Schemes, schemes...); return nil })
	}
	scheme("--proxy-basic", "answer the proxy's 407 with Basic (sent from the first request)", "basic")
	scheme("--proxy-digest", "answer the proxy's 407 with Digest (RFC 7616)", "digest")
	scheme("--proxy-ntlm", `answer the proxy's 407 with NTLM (NTLMv2); -U 'DOMAIN\user:password'`, "ntlm")
	scheme("--proxy-negotiate", "answer the proxy's 407 with Negotiate/Kerberos, from the ticket cache (kinit)", "negotiate")
	scheme("--proxy-anyauth", "the strongest of the four the proxy offers, falling back without a ticket",
		"negotiate", "ntlm", "digest", "basic")
}

// schemes turns the scheme flags into ferry's schemes; none means nil:
// preemptive Basic with the proxy URL's credentials, ferry's (and curl's)
// default.
func (a *proxyAuthOptions) schemes() []proxyauth.Scheme {
	var out []proxyauth.Scheme
	seen := map[string]bool{}
	for _, n := range a.Schemes {
		if seen[n] {
			continue
		}
		seen[n] = true
		switch n {
		case "basic":
			out = append(out, proxyauth.Basic{})
		case "digest":
			out = append(out, &proxyauth.Digest{})
		case "ntlm":
			out = append(out, ntlm.Scheme{})
		case "negotiate":
			// The Kerberos ticket cache (kinit) and KRB5_CONFIG, as curl's
			// --proxy-negotiate.
			out = append(out, &negotiate.Scheme{})
		}
	}
	return out
}

// userinfo is -U's credentials, or nil without -U.
func (a *proxyAuthOptions) userinfo() *url.Userinfo {
	if !a.HasUser {
		return nil
	}
	user, pass, _ := strings.Cut(a.User, ":")
	return url.UserPassword(user, pass)
}

// withUser wraps a proxy function so the proxy URL carries -U's
// credentials. The same *url.URL comes back for the same proxy, which keeps
// ferry's pool key cache warm; the function is called from every request's
// goroutine, so that memory is guarded.
func (a *proxyAuthOptions) withUser(base func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	userinfo := a.userinfo()
	if userinfo == nil || base == nil {
		return base
	}
	var mu sync.Mutex
	var last, withUser *url.URL
	return func(req *http.Request) (*url.URL, error) {
		p, err := base(req)
		if err != nil || p == nil {
			return p, err
		}
		mu.Lock()
		defer mu.Unlock()
		if p != last {
			last, withUser = p, withUserinfo(p, userinfo)
		}
		return withUser, nil
	}
}

// withUserinfo returns a copy of proxy p carrying userinfo.
func withUserinfo(p *url.URL, userinfo *url.Userinfo) *url.URL {
	c := *p
	c.User = userinfo
	return &c
}
