package ferry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryhttp/ferry/conn"
)

// ErrProxyAndProxyList is returned for every request of a Transport that
// sets both Proxy and ProxyList: which one is meant cannot be guessed.
var ErrProxyAndProxyList = errors.New("ferry: Transport.Proxy and Transport.ProxyList are both set; set one")

// DefaultBadProxyTimeout is how long a failed proxy is tried last when
// Transport.BadProxyTimeout is zero (Chromium's retry delay).
const DefaultBadProxyTimeout = 5 * time.Minute

// maxBadProxies bounds the bad-proxy table: a PAC script that names a new
// proxy for every host must not grow it without end.
const maxBadProxies = 1024

// roundTripList sends req along the routes ProxyList gives, in order, bad
// proxies last, moving on only where Chromium does (see canFailover).
func (t *Transport) roundTripList(req *http.Request) (*http.Response, error) {
	s := t.s
	list, err := s.proxyList(req)
	if err != nil {
		closeReqBody(req)
		return nil, fmt.Errorf("ferry: choosing proxy: %w", err)
	}
	if len(list) == 0 {
		list = []*url.URL{nil}
	}
	list = t.bad.order(list, s.badProxyTimeout > 0)

	var skipped []SkippedRoute
	var errs []error
	for i, p := range list {
		r, err := t.routeVia(req, p)
		if err != nil {
			closeReqBody(req)
			return nil, joinErrs(append(errs, err))
		}
		r.skipped = skipped
		resp, next, err := t.send(req, &r, i < len(list)-1)
		if err == nil {
			t.bad.succeeded(list[:i], p, s.badProxyTimeout)
			return resp, nil
		}
		errs = append(errs, err)
		if !next {
			return nil, joinErrs(errs)
		}
		skipped = append(skipped, SkippedRoute{Proxy: p, Err: err})
		if s.logger != nil {
			s.logger.DebugContext(req.Context(), "ferry: route failed, trying the next entry", "proxy", routeName(p), "err", err)
		}
	}
	// Not reached: the last entry is sent with failover off.
	closeReqBody(req)
	return nil, joinErrs(errs)
}

// routeName is a proxy list entry for logs: the URL without its password,
// or DIRECT.
func routeName(p *url.URL) string {
	if p == nil {
		return "DIRECT"
	}
	return p.Redacted()
}

// joinErrs keeps a lone error as it is, so that a list of one behaves as
// Proxy does; more become errors.Join, each still found by errors.As.
func joinErrs(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// canFailover reports whether a failure lets the request move to the next
// entry of a proxy list, by Chromium's rules (net/http/proxy_fallback.cc):
// the failure is the connection's and nothing of the request was sent. That
// is a failed dial of the proxy, or of the target for a DIRECT entry
// (refused, timed out, name not resolved, unreachable), a failed TLS
// handshake with an https proxy, or a connection closed, reset or timed out
// before the CONNECT reply. Not a CONNECT answered with a status (403, 407:
// the proxy refused on purpose), a garbled reply, anything after the
// request was written, a failure with the target (its TLS, its pin), or any
// failure once the request's context has ended.
func canFailover(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var pe *ProxyError
	if !errors.As(err, &pe) {
		// A DIRECT entry (or a target name a socks5 route resolves here)
		// whose dial failed: nothing was sent, and Chromium moves on too
		// ("DIRECT; PROXY backup:3128"). TLS with the target never counts.
		return isDialFailure(err)
	}
	if pe.StatusCode != 0 || errors.Is(pe.Err, conn.ErrConnectRefused) || errors.Is(pe.Err, conn.ErrResponseHeaderTooLarge) {
		return false
	}
	if !pe.HasConnectedToProxy {
		return true
	}
	return pe.Timeout() || errors.Is(pe.Err, io.EOF) || errors.Is(pe.Err, io.ErrUnexpectedEOF) ||
		conn.IsConnectionLost(pe.Err) || isTLSFailure(pe.Err)
}

// isDialFailure reports a failed dial: the dialer's *net.OpError with Op
// "dial" (refused, unreachable, timed out) or a name that did not resolve.
func isDialFailure(err error) bool {
	var oe *net.OpError
	var de *net.DNSError
	return (errors.As(err, &oe) && oe.Op == "dial") || errors.As(err, &de)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// isTLSFailure reports a failed TLS handshake: a certificate not verified
// (or not matching a pin), an alert, or a peer that does not speak TLS.
func isTLSFailure(err error) bool {
	var (
		cve *tls.CertificateVerificationError
		rhe tls.RecordHeaderError
		ae  tls.AlertError
		uae x509.UnknownAuthorityError
		he  x509.HostnameError
		cie x509.CertificateInvalidError
	)
	return errors.As(err, &cve) || errors.As(err, &rhe) || errors.As(err, &ae) ||
		errors.As(err, &uae) || errors.As(err, &he) || errors.As(err, &cie)
}

// badProxies remembers, per Transport, until when each proxy that failed is
// tried after the others (Chromium's proxy retry info).
type badProxies struct {
	now func() time.Time // nil: time.Now; tests set it

	mu    sync.Mutex
	until map[string]time.Time // guarded by mu; key: badKey
	// marked is len(until), readable without mu: while no proxy is marked
	// (the usual case) requests never take the lock.
	marked atomic.Int32
}

func badKey(u *url.URL) string { return u.Scheme + "://" + u.Host }

func (b *badProxies) clock() time.Time {
	if b.now != nil {
		return b.now()
	}
	return time.Now()
}

// order returns list with the proxies currently marked bad moved to its end,
// each group in its original order. list itself is not changed.
func (b *badProxies) order(list []*url.URL, enabled bool) []*url.URL {
	if !enabled || len(list) < 2 || b.marked.Load() == 0 {
		return list
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.until) == 0 {
		return list
	}
	now := b.clock()
	var good, bad []*url.URL
	for _, u := range list {
		if u != nil {
			if t, ok := b.until[badKey(u)]; ok && now.Before(t) {
				bad = append(bad, u)
				continue
			}
		}
		good = append(good, u)
	}
	if len(bad) == 0 {
		return list
	}
	return append(good, bad...)
}

// succeeded records that served, a proxy (nil: direct) that served a request
// after the entries in failed had failed: those are marked bad for d, and
// served is no longer bad.
func (b *badProxies) succeeded(failed []*url.URL, served *url.URL, d time.Duration) {
	if d <= 0 || len(failed) == 0 && (served == nil || b.marked.Load() == 0) {
		return
	}
	b.mu.Lock()
	defer func() {
		b.marked.Store(int32(len(b.until)))
		b.mu.Unlock()
	}()
	if len(failed) == 0 && len(b.until) == 0 {
		return
	}
	now := b.clock()
	if served != nil {
		delete(b.until, badKey(served))
	}
	if len(failed) == 0 {
		return
	}
	if b.until == nil {
		b.until = make(map[string]time.Time)
	}
	if len(b.until)+len(failed) > maxBadProxies {
		for k, t := range b.until {
			if !now.Before(t) {
				delete(b.until, k)
			}
		}
	}
	for _, u := range failed {
		if u != nil && len(b.until) < maxBadProxies {
			b.until[badKey(u)] = now.Add(d)
		}
	}
}
