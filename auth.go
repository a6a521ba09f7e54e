package ferry

import (
	"context"
	"net/http"
	"net/url"

	"github.com/ferryhttp/ferry/conn"
	"github.com/ferryhttp/ferry/pool"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// max407Body is how much of a 407's body is read (and dropped) so its
// connection can carry the next leg; a longer body, or one that does not end
// within pool.Drain's wait, closes the connection.
const max407Body = 64 << 10

// setProxyAuth gives a new connection to a proxy its authentication state,
// when ProxyAuth is configured. SOCKS proxies never answer 407.
func (t *Transport) setProxyAuth(c *conn.Conn, r *route) {
	if t.auth == nil || r.proxy == nil || isSOCKS(r.proxy) {
		return
	}
	c.SetProxyAuth(t.auth.Session(r.proxy))
}

// urlBasicAuth is the preemptive Basic credentials of the proxy URL, sent
// when ProxyAuth is not configured (net/http's behaviour). With ProxyAuth,
// the configured schemes decide what the proxy gets, and when.
func (t *Transport) urlBasicAuth(p *url.URL) (string, bool) {
	if t.auth != nil {
		return "", false
	}
	return proxyconfig.BasicAuth(p)
}

// addProxyAuth adds the first leg's Proxy-Authorization to a forwarded
// request: a Digest count on the nonce its connection holds, Basic, the
// first NTLM message, or nothing on a connection already authenticated.
// Requests to an origin (direct, or through a tunnel) never get one.
func (t *Transport) addProxyAuth(c *conn.Conn, req *http.Request, r *route, ropts conn.RequestOptions) conn.RequestOptions {
	pa := c.ProxyAuth()
	if pa == nil || r.mode != proxyconfig.Forward {
		return ropts
	}
	ropts.ProxyAuthorization, _ = pa.Authorization(methodOf(req), forwardTarget(req, ropts), nil)
	return ropts
}

// answerForward407 answers a proxy's 407 to a forwarded request by sending
// it again with the next leg's credentials, while it can be replayed (no
// body, or GetBody) and for at most conn.MaxAuthLegs requests in all. The
// next leg goes on the same connection when the 407 left it reusable (an
// NTLM handshake must stay on one connection), else on a new one, where a
// connection-bound scheme starts over. When ferry cannot or may not answer,
// the caller gets the 407 response, as without ProxyAuth.
func (t *Transport) answerForward407(ctx context.Context, req *http.Request, r *route, ropts conn.RequestOptions, res attemptResult) (attemptResult, error) {
	if r.mode != proxyconfig.Forward {
		return res, nil
	}
	res, err := t.forward407Legs(ctx, req, r, ropts, res)
	if err == nil && res.resp.StatusCode == http.StatusProxyAuthRequired {
		// The caller gets the 407; the connection's handshake (if any) is
		// left half done, so the connection goes once the 407 is read.
		res.entry.Conn.AbandonProxyAuth()
		res.resp.Close = true
	}
	return res, err
}

func (t *Transport) forward407Legs(ctx context.Context, req *http.Request, r *route, ropts conn.RequestOptions, res attemptResult) (attemptResult, error) {
	for legs := 1; res.resp.StatusCode == http.StatusProxyAuthRequired && legs < conn.MaxAuthLegs; legs++ {
		c := res.entry.Conn
		// Every connection of a forward route was dialed by t.dial, which
		// gave it a ProxyAuth (send comes here only with t.auth set).
		pa := c.ProxyAuth()
		hasBody := req.Body != nil && req.Body != http.NoBody
		if hasBody && req.GetBody == nil {
			return res, nil
		}
		next, err := pa.Authorization(methodOf(req), forwardTarget(req, ropts), res.resp.Header)
		if err != nil || next == "" {
			return res, nil
		}
		again, err := withNewBody(ctx, req)
		if err != nil {
			return res, nil
		}
		e := res.entry
		same := pool.Drain(c, res.resp.Body, res.resp.ContentLength, max407Body) && c.Release()
		ro := ropts
		ro.ProxyAuthorization = next
		if !same {
			t.pool.Discard(e)
			if e, err = t.pool.Dial(ctx, r.key, func(ctx context.Context) (*conn.Conn, error) { return t.dial(ctx, r) }); err != nil {
				closeReqBody(again)
				return attemptResult{}, err
			}
			ro = t.addProxyAuth(e.Conn, again, r, ropts)
		}
		if err := e.Conn.Request(ctx, again, ro); err != nil {
			t.pool.Discard(e)
			return attemptResult{}, err
		}
		resp, err := e.Conn.GetResponse(ctx)
		if err != nil {
			t.pool.Discard(e)
			return attemptResult{}, err
		}
		res = attemptResult{resp: resp, entry: e, reuse: same || res.reuse}
	}
	return res, nil
}

// forwardTarget is the request target a forwarded request goes out with,
// as Request.WriteProxy writes it (Digest signs it).
func forwardTarget(req *http.Request, ropts conn.RequestOptions) string {
	u := req.URL
	if u.Opaque != "" {
		return u.RequestURI()
	}
	host := ropts.Host
	if host == "" {
		host = req.Host
	}
	if host == "" {
		host = u.Host
	}
	return u.Scheme + "://" + host + u.RequestURI()
}

func methodOf(req *http.Request) string {
	if req.Method == "" {
		return http.MethodGet
	}
	return req.Method
}
