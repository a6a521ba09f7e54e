package proxytest

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"

	"github.com/ferryhttp/ferry/proxyauth"
)

// HandshakeScheme is the name of the test's connection-bound scheme (see
// Options.Handshake): it stands for NTLM and Negotiate in tests that need
// no outside library.
const HandshakeScheme = "Ferry-Handshake"

// connAuth is what one client connection has proven.
type connAuth struct {
	authed    bool   // the Handshake scheme authenticated this connection
	challenge string // the Handshake challenge sent on this connection
}

// digestNonce is the proxy's record of a nonce it issued, as squid keeps it.
type digestNonce struct {
	nc    uint64
	uses  int
	valid bool
}

// checkAuth decides whether req may pass. When not, it returns the
// challenges for the 407 (one Proxy-Authenticate field per scheme, in
// squid's way).
func (p *Proxy) checkAuth(req *http.Request, cs *connAuth) (ok bool, challenge http.Header) {
	o := p.opts
	if o.Auth == "" && o.Digest == "" && o.Handshake == "" {
		return true, nil
	}
	if cs.authed {
		return true, nil
	}
	v := req.Header.Get("Proxy-Authorization")
	scheme, rest, _ := strings.Cut(v, " ")
	stale := false
	switch {
	case o.Auth != "" && strings.EqualFold(scheme, "Basic"):
		if rest == base64.StdEncoding.EncodeToString([]byte(o.Auth)) {
			return true, nil
		}
	case o.Digest != "" && strings.EqualFold(scheme, "Digest"):
		var good bool
		good, stale = p.checkDigest(req.Method, v)
		if good {
			return true, nil
		}
	case o.Handshake != "" && strings.EqualFold(scheme, HandshakeScheme):
		switch {
		case rest == "hello" && cs.challenge != "":
			// A new handshake on a connection whose handshake is half
			// done: squid refuses it, and so does this proxy.
		case rest == "hello":
			cs.challenge = randomToken()
			return false, http.Header{"Proxy-Authenticate": {HandshakeScheme + " " + cs.challenge}}
		case cs.challenge != "" && rest == cs.challenge+"."+base64.StdEncoding.EncodeToString([]byte(o.Handshake)):
			cs.authed = true
			return true, nil
		}
		cs.challenge = ""
	}
	h := make(http.Header)
	if o.Handshake != "" {
		h.Add("Proxy-Authenticate", HandshakeScheme)
	}
	if o.Digest != "" {
		h.Add("Proxy-Authenticate", `Digest realm="proxytest", nonce="`+p.newNonce()+`", qop="auth", stale=`+strconv.FormatBool(stale))
	}
	if o.Auth != "" {
		h.Add("Proxy-Authenticate", `Basic realm="proxytest"`)
	}
	return false, h
}

func randomToken() string {
	var b [12]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (p *Proxy) newNonce() string {
	n := randomToken()
	p.mu.Lock()
	if p.nonces == nil {
		p.nonces = make(map[string]*digestNonce)
	}
	p.nonces[n] = &digestNonce{valid: true}
	p.mu.Unlock()
	return n
}

// checkDigest verifies a Digest answer (MD5 or MD5-sess, qop=auth) as squid
// does: the nonce must be one of ours and still valid, its count must grow
// (a count that does not invalidates the nonce), and it goes stale after
// DigestMaxCount uses.
func (p *Proxy) checkDigest(method, v string) (ok, stale bool) {
	chs := proxyauth.Challenges(http.Header{"Proxy-Authenticate": {v}})
	if len(chs) != 1 {
		return false, false
	}
	a := chs[0].Params
	user, pass, _ := strings.Cut(p.opts.Digest, ":")
	if a["username"] != user || a["realm"] != "proxytest" || a["qop"] != "auth" {
		return false, false
	}
	nc, err := strconv.ParseUint(a["nc"], 16, 32)
	if err != nil {
		return false, false
	}
	max := p.opts.DigestMaxCount
	if max == 0 {
		max = 50
	}
	p.mu.Lock()
	n := p.nonces[a["nonce"]]
	if n == nil || !n.valid {
		p.mu.Unlock()
		return false, true
	}
	if nc <= n.nc || n.uses >= max {
		n.valid = false
		p.mu.Unlock()
		return false, true
	}
	n.nc = nc
	n.uses++
	p.mu.Unlock()
	h := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	ha1 := h(user + ":proxytest:" + pass)
	switch a["algorithm"] {
	case "", "MD5":
	case "MD5-sess":
		ha1 = h(ha1 + ":" + a["nonce"] + ":" + a["cnonce"])
	default:
		return false, false
	}
	want := h(ha1 + ":" + a["nonce"] + ":" + a["nc"] + ":" + a["cnonce"] + ":auth:" + h(method+":"+a["uri"]))
	return a["response"] == want, false
}

// Challenged returns how many 407 answers the proxy sent.
func (p *Proxy) Challenged() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.challenged
}
