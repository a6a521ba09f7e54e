// Package ntlm is NTLM (NTLMv2) proxy authentication for ferry, on
// github.com/Azure/go-ntlmssp. It lives in a module of its own so that
// ferry's root module depends on nothing but golang.org/x/net.
//
//	tr := &ferry.Transport{
//		Proxy:     http.ProxyURL(&url.URL{Scheme: "http", Host: "proxy:3128", User: url.UserPassword(`CORP\alice`, "s3cret")}),
//		ProxyAuth: []proxyauth.Scheme{ntlm.Scheme{}},
//	}
//
// NTLM authenticates the connection, not the request: NEGOTIATE, the
// proxy's CHALLENGE (in a 407) and AUTHENTICATE go over one connection,
// which stays authenticated; ferry pools it and its later requests carry no
// header. The user is "DOMAIN\user", "user@domain" or a bare "user".
package ntlm

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"

	ntlmssp "github.com/Azure/go-ntlmssp"

	"github.com/ferryhttp/ferry/proxyauth"
)

// Scheme is NTLM authentication with the user and password of the proxy
// URL. The zero value is ready to use.
type Scheme struct {
	// Workstation, if set, is sent as the client's workstation name.
	Workstation string
}

// Name returns "NTLM".
func (Scheme) Name() string { return "NTLM" }

// Start fails with proxyauth.ErrNoCredentials when the proxy URL has no user.
func (s Scheme) Start(proxy *url.URL) (proxyauth.Authenticator, error) {
	if proxy.User == nil {
		return nil, proxyauth.ErrNoCredentials
	}
	pw, _ := proxy.User.Password()
	return &auth{user: proxy.User.Username(), pass: pw, workstation: s.Workstation}, nil
}

type state int

const (
	idle       state = iota
	negotiated       // NEGOTIATE sent, waiting for the CHALLENGE
	done             // AUTHENTICATE sent: the connection is authenticated if the proxy agreed
)

// auth is one connection's handshake.
type auth struct {
	user, pass, workstation string
	state                   state
}

func (a *auth) Authorize(r *proxyauth.Request) (string, error) {
	if r.Challenges == nil {
		if a.state == done {
			return "", nil // authenticated: the connection carries it
		}
		return a.negotiate()
	}
	tok := r.Challenges[0].Token68
	if tok == "" {
		// A bare "NTLM": the start of a handshake, or, right after our
		// AUTHENTICATE or NEGOTIATE, the proxy saying no.
		if r.Sent != "" {
			return "", proxyauth.ErrRejected
		}
		return a.negotiate()
	}
	if a.state != negotiated {
		return "", errors.New("ntlm: CHALLENGE without a NEGOTIATE on this connection")
	}
	challenge, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		return "", fmt.Errorf("ntlm: CHALLENGE: %w", err)
	}
	msg, err := ntlmssp.NewAuthenticateMessage(challenge, a.user, a.pass, &ntlmssp.AuthenticateMessageOptions{WorkstationName: a.workstation})
	if err != nil {
		// go-ntlmssp's errors name the message's flaws, never the password.
		return "", fmt.Errorf("ntlm: CHALLENGE: %w", err)
	}
	a.state = done
	return "NTLM " + base64.StdEncoding.EncodeToString(msg), nil
}

func (a *auth) negotiate() (string, error) {
	msg, err := ntlmssp.NewNegotiateMessage("", "")
	if err != nil {
		return "", fmt.Errorf("ntlm: %w", err)
	}
	a.state = negotiated
	return "NTLM " + base64.StdEncoding.EncodeToString(msg), nil
}
