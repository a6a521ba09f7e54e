package proxyauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Auth is the proxy authentication of one Transport: the configured
// schemes, strongest first, and per proxy the scheme that worked, so that
// later connections to it authenticate from their first request. It is safe
// for concurrent use.
type Auth struct {
	schemes []Scheme

	mu     sync.Mutex
	chosen map[string]Scheme // proxy URL (with credentials) -> scheme that worked
}

// New returns an Auth for schemes, which it ranks strongest first:
// Negotiate, NTLM, Digest, Basic (curl's order); schemes ferry does not
// know rank above those, in the order given. Nil schemes are ignored.
func New(schemes []Scheme) *Auth {
	var s []Scheme
	for _, sc := range schemes {
		if sc != nil {
			s = append(s, sc)
		}
	}
	sort.SliceStable(s, func(i, j int) bool { return rank(s[i].Name()) > rank(s[j].Name()) })
	return &Auth{schemes: s, chosen: make(map[string]Scheme)}
}

// Session returns the authentication state of one new connection to proxy.
func (a *Auth) Session(proxy *url.URL) *Session {
	return &Session{a: a, proxy: proxy, key: proxy.String()}
}

func (a *Auth) chosenFor(key string) Scheme {
	a.mu.Lock()
	defer a.mu.Unlock()
	if sc := a.chosen[key]; sc != nil {
		return sc
	}
	if len(a.schemes) == 1 {
		// One scheme configured (curl's --proxy-basic, --proxy-ntlm): start
		// it before any 407, which saves a round trip.
		return a.schemes[0]
	}
	return nil
}

func (a *Auth) choose(key string, sc Scheme) {
	a.mu.Lock()
	a.chosen[key] = sc
	a.mu.Unlock()
}

// Session is the proxy authentication of one connection: the scheme in use
// and its Authenticator. It is used by the connection's goroutine only.
type Session struct {
	a     *Auth
	proxy *url.URL
	key   string

	scheme Scheme
	auth   Authenticator
	sent   string // what Authorization returned last
}

// Authorization returns the Proxy-Authorization value for the next leg of a
// request (method and request target as sent), or "" to send none.
// challenge is the header of the 407 the previous leg got, nil on a
// request's first leg. The Session remembers what it returned last: that is
// what the previous leg carried (sent to the schemes as Request.Sent).
//
// On a first leg it never fails: a scheme that cannot start preemptively
// waits for the proxy's 407. On a 407 an error means giving up (ErrRejected,
// ErrNoScheme, or the scheme's own); the caller then reports the 407.
func (s *Session) Authorization(method, target string, challenge http.Header) (v string, err error) {
	defer func() { s.sent = v }()
	if challenge == nil {
		return s.preemptive(method, target)
	}
	sent := s.sent
	chs := Challenges(challenge)
	if sent != "" && s.auth != nil && strings.EqualFold(schemeOf(sent), s.scheme.Name()) {
		own := only(chs, s.scheme.Name())
		if len(own) == 0 {
			return "", fmt.Errorf("%w (%s no longer offered)", ErrRejected, s.scheme.Name())
		}
		v, err := s.auth.Authorize(&Request{Method: method, Target: target, Challenges: own, Sent: sent})
		if err == nil && v == "" {
			err = ErrRejected
		}
		return v, err
	}
	var firstErr error
	for _, sc := range s.a.schemes {
		own := only(chs, sc.Name())
		if len(own) == 0 {
			continue
		}
		au := s.auth
		if au == nil || s.scheme != sc {
			var err error
			if au, err = sc.Start(s.proxy); err != nil {
				firstErr = keepFirst(firstErr, sc, err)
				continue
			}
		}
		v, err := au.Authorize(&Request{Method: method, Target: target, Challenges: own})
		if err != nil || v == "" {
			if err == nil {
				err = errNothing
			}
			firstErr = keepFirst(firstErr, sc, err)
			closeAuth(au)
			if au == s.auth {
				s.auth, s.scheme = nil, nil
			}
			continue
		}
		if au != s.auth {
			closeAuth(s.auth)
			s.auth, s.scheme = au, sc
		}
		s.a.choose(s.key, sc)
		return v, nil
	}
	if firstErr != nil {
		return "", fmt.Errorf("%w: %w", ErrNoScheme, firstErr)
	}
	return "", ErrNoScheme
}

func (s *Session) preemptive(method, target string) (string, error) {
	sc := s.scheme
	if sc == nil {
		if sc = s.a.chosenFor(s.key); sc == nil {
			return "", nil
		}
	}
	// s.auth is set only together with a scheme, so a non-nil s.auth is
	// s.scheme's, which is sc.
	if s.auth == nil {
		au, err := sc.Start(s.proxy)
		if err != nil {
			return "", nil
		}
		s.auth, s.scheme = au, sc
	}
	v, err := s.auth.Authorize(&Request{Method: method, Target: target})
	if err != nil {
		closeAuth(s.auth)
		s.auth, s.scheme = nil, nil
		return "", nil
	}
	return v, nil
}

// Reset ends the connection's authentication: its connection closed, or its
// conversation with the proxy is over (a tunnel was established). The next
// Authorization starts afresh, with the scheme chosen for the proxy.
func (s *Session) Reset() {
	closeAuth(s.auth)
	s.auth, s.scheme = nil, nil
}

func closeAuth(a Authenticator) {
	if c, ok := a.(closer); ok {
		c.Close()
	}
}

func only(chs []Challenge, name string) []Challenge {
	var out []Challenge
	for _, c := range chs {
		if c.Is(name) {
			out = append(out, c)
		}
	}
	return out
}

func keepFirst(first error, sc Scheme, err error) error {
	if first != nil {
		return first
	}
	return fmt.Errorf("%s: %w", sc.Name(), err)
}

var errNothing = errors.New("nothing to send")
