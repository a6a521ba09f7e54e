package proxyauth

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// maxFreeNonces bounds the nonces a Digest keeps per proxy for later
// connections.
const maxFreeNonces = 64

// ErrDigestUnsupported: the proxy's Digest challenge asks for what ferry
// does not do (an unknown algorithm, qop=auth-int only).
var ErrDigestUnsupported = errors.New("proxyauth: unsupported Digest challenge")

// Digest is Digest authentication (RFC 7616) with the user and password of
// the proxy URL: algorithms MD5, MD5-sess, SHA-256, SHA-256-sess,
// SHA-512-256 and SHA-512-256-sess (the strongest the proxy offers), qop=auth
// or none (RFC 2069), userhash. A nonce is kept and counted (nc) for later
// requests, so once a connection has one its requests need no extra round
// trip; stale=true is answered with the new nonce. Each nonce is used by one
// connection at a time, so its counts reach the proxy in order (squid
// invalidates a nonce whose count goes backwards); a connection that ends
// hands its nonce to the next new one.
//
// The zero value is ready to use. A Digest must not be copied after first
// use; share one pointer among the Transports that may share nonces.
type Digest struct {
	mu   sync.Mutex
	free map[string][]*digestNonce // per proxy URL: nonces no connection holds

	// cnonce makes client nonces; nil means 16 random bytes in hex. Tests
	// set it to replay the RFC's examples.
	cnonce func() string
}

// Name returns "Digest".
func (*Digest) Name() string { return "Digest" }

// Start fails with ErrNoCredentials when proxy has no user.
func (d *Digest) Start(proxy *url.URL) (Authenticator, error) {
	if proxy.User == nil {
		return nil, ErrNoCredentials
	}
	pw, _ := proxy.User.Password()
	return &digestAuth{d: d, key: proxy.String(), user: proxy.User.Username(), pass: pw}, nil
}

func (d *Digest) take(key string) *digestNonce {
	d.mu.Lock()
	defer d.mu.Unlock()
	list := d.free[key]
	if len(list) == 0 {
		return nil
	}
	n := list[len(list)-1]
	d.free[key] = list[:len(list)-1]
	return n
}

func (d *Digest) put(key string, n *digestNonce) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.free == nil {
		d.free = make(map[string][]*digestNonce)
	}
	list := append(d.free[key], n)
	if len(list) > maxFreeNonces {
		list = list[len(list)-maxFreeNonces:]
	}
	d.free[key] = list
}

func (d *Digest) newCnonce() string {
	if d.cnonce != nil {
		return d.cnonce()
	}
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// digestNonce is what one challenge set up: the nonce and its count.
type digestNonce struct {
	algorithm string // as the proxy wrote it; "" when it named none
	newHash   func() hash.Hash
	sess      bool
	realm     string
	nonce     string
	opaque    string
	hasOpaque bool
	qop       bool // qop=auth (else RFC 2069's form)
	userhash  bool
	cnonce    string
	ha1       string // H(A1), computed once per nonce
	nc        uint32
}

type digestAuth struct {
	d          *Digest
	key        string
	user, pass string
	n          *digestNonce // the nonce this connection holds
	// earlier: the last header was computed from a nonce of an earlier
	// request (held, or handed over), not from this request's challenge.
	earlier bool
}

func (a *digestAuth) Authorize(r *Request) (string, error) {
	if r.Challenges == nil {
		if a.n == nil {
			a.n = a.d.take(a.key)
		}
		if a.n == nil {
			return "", nil
		}
		a.earlier = true
		return a.response(r.Method, r.Target), nil
	}
	o, err := bestDigest(r.Challenges)
	if err != nil {
		return "", err
	}
	// Credentials answered with a fresh challenge are wrong, unless they
	// were computed from an earlier request's nonce: a proxy may have
	// forgotten it (a restart, a farm behind a load balancer) without
	// saying stale=true, so that nonce earns one more try with the new one.
	if r.Sent != "" && !strings.EqualFold(o.ch.Params["stale"], "true") && !a.earlier {
		return "", ErrRejected
	}
	a.earlier = false
	n, err := a.newNonce(o)
	if err != nil {
		return "", err
	}
	a.n = n
	return a.response(r.Method, r.Target), nil
}

// Close hands the connection's nonce to the next connection.
func (a *digestAuth) Close() {
	if a.n != nil {
		a.d.put(a.key, a.n)
		a.n = nil
	}
}

// newNonce sets up the nonce of o, the challenge bestDigest chose.
func (a *digestAuth) newNonce(o digestOffer) (*digestNonce, error) {
	p := o.ch.Params
	n := &digestNonce{algorithm: p["algorithm"], newHash: o.newHash, sess: o.sess, qop: o.qop, realm: p["realm"], nonce: p["nonce"]}
	n.opaque, n.hasOpaque = p["opaque"]
	if n.nonce == "" {
		return nil, fmt.Errorf("%w: no nonce", ErrDigestUnsupported)
	}
	n.userhash = strings.EqualFold(p["userhash"], "true")
	n.cnonce = a.d.newCnonce()
	n.ha1 = n.h(a.user + ":" + n.realm + ":" + a.pass)
	if n.sess {
		n.ha1 = n.h(n.ha1 + ":" + n.nonce + ":" + n.cnonce)
	}
	return n, nil
}

func (n *digestNonce) h(s string) string {
	h := n.newHash()
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

// response counts one more use of the nonce and renders the header value.
func (a *digestAuth) response(method, uri string) string {
	n := a.n
	n.nc++
	ha2 := n.h(method + ":" + uri)
	nc := fmt.Sprintf("%08x", n.nc)
	var resp string
	if n.qop {
		resp = n.h(n.ha1 + ":" + n.nonce + ":" + nc + ":" + n.cnonce + ":auth:" + ha2)
	} else {
		resp = n.h(n.ha1 + ":" + n.nonce + ":" + ha2)
	}
	var b strings.Builder
	b.WriteString("Digest ")
	switch {
	case n.userhash:
		b.WriteString("username=" + quote(n.h(a.user+":"+n.realm)))
	case isASCII(a.user):
		b.WriteString("username=" + quote(a.user))
	default:
		b.WriteString("username*=UTF-8''" + extValue(a.user))
	}
	b.WriteString(", realm=" + quote(n.realm))
	b.WriteString(", nonce=" + quote(n.nonce))
	b.WriteString(", uri=" + quote(uri))
	if n.algorithm != "" {
		b.WriteString(", algorithm=" + n.algorithm)
	}
	if n.qop {
		b.WriteString(", qop=auth, nc=" + nc + ", cnonce=" + quote(n.cnonce))
	}
	b.WriteString(", response=" + quote(resp))
	if n.hasOpaque {
		b.WriteString(", opaque=" + quote(n.opaque))
	}
	if n.userhash {
		b.WriteString(", userhash=true")
	}
	return b.String()
}

// digestOffer is a Digest challenge ferry can answer, with what its
// algorithm and qop parameters mean.
type digestOffer struct {
	ch      Challenge
	newHash func() hash.Hash
	sess    bool // a -sess algorithm
	qop     bool // qop=auth offered (else RFC 2069's form)
}

// bestDigest picks the strongest challenge ferry can answer (a proxy may
// offer one per algorithm, RFC 7616 section 3.7).
func bestDigest(chs []Challenge) (digestOffer, error) {
	var best digestOffer
	found, bestRank := false, 0
	var firstErr error
	for _, c := range chs {
		alg := c.Params["algorithm"]
		newHash, sess, ok := digestAlgorithm(alg)
		if !ok {
			firstErr = fmt.Errorf("%w: algorithm %q", ErrDigestUnsupported, alg)
			continue
		}
		q, hasQop := c.Params["qop"]
		if hasQop && !hasToken(q, "auth") {
			firstErr = fmt.Errorf("%w: qop %q", ErrDigestUnsupported, q)
			continue
		}
		if r := newHash().Size(); !found || r > bestRank {
			best, found, bestRank = digestOffer{ch: c, newHash: newHash, sess: sess, qop: hasQop}, true, r
		}
	}
	if !found {
		if firstErr == nil {
			firstErr = ErrDigestUnsupported
		}
		return digestOffer{}, firstErr
	}
	return best, nil
}

// digestAlgorithm maps an algorithm name to its hash and whether it is a
// -sess variant. The empty name is MD5 (RFC 7616 section 3.3).
func digestAlgorithm(name string) (func() hash.Hash, bool, bool) {
	base, sess := name, false
	if b, ok := cutSuffixFold(name, "-sess"); ok {
		base, sess = b, true
	}
	switch strings.ToUpper(base) {
	case "MD5":
		return md5.New, sess, true
	case "":
		if !sess {
			return md5.New, false, true
		}
	case "SHA-256":
		return sha256.New, sess, true
	case "SHA-512-256":
		return sha512.New512_256, sess, true
	}
	return nil, false, false
}

func cutSuffixFold(s, suffix string) (string, bool) {
	if len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix) {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}

// hasToken reports whether the comma-separated list holds tok.
func hasToken(list, tok string) bool {
	for _, t := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(t), tok) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] < 0x20 {
			return false
		}
	}
	return true
}

// extValue percent-encodes s for an RFC 8187 ext-value.
func extValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c)|0x100, 16)[1:]))
	}
	return b.String()
}
