package ferry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ferryhttp/ferry/proxyconfig"
	"github.com/ferryhttp/ferry/verify"
)

// ErrInvalidConfig is matched (errors.Is) by every *ConfigError: Transport
// settings that cannot work, found before anything was dialled.
var ErrInvalidConfig = errors.New("ferry: invalid Transport settings")

// ConfigError reports a Transport setting that cannot work, before anything
// was dialled:
//   - a malformed certificate pin (OriginVerify.Fingerprint or
//     ProxyVerify.Fingerprint): found at the Transport's first use, every
//     request fails with it, and Unwrap gives an error wrapping
//     verify.ErrBadFingerprint;
//   - a pin that the request gives ferry no TLS handshake to check: an
//     OriginVerify pin for an http:// target, for an https:// target that an
//     https proxy forwards (UseForwardingForHTTPS) or that DialTLSContext
//     dials; a ProxyVerify pin for an http:// or SOCKS proxy, or for an https
//     proxy that DialTLSContext dials. Only that request fails. A ProxyVerify
//     pin does not stop requests that use no proxy.
//
// errors.Is(err, ErrInvalidConfig) is true for every ConfigError.
type ConfigError struct {
	// Field names the setting as a Go program spells it:
	// "OriginVerify.Fingerprint" or "ProxyVerify.Fingerprint".
	Field string
	// Err says what is wrong with it.
	Err error
}

// Error names the field and the cause.
func (e *ConfigError) Error() string {
	return "ferry: invalid Transport." + e.Field + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *ConfigError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// settings are the fields RoundTrip reads for each request, copied once at
// the Transport's first use (init) so that every field behaves alike: what
// is set then holds for the Transport's life. Read-only after init, so no
// lock is needed. The settings of connections (dialers, TLS, timeouts) are
// frozen the same way in conn.Options, and the pool's limits in pool.Options.
// A new Transport field that RoundTrip reads per request belongs here too,
// copied in freeze, so that it follows the same rule.
type settings struct {
	proxy                 func(*http.Request) (*url.URL, error)
	proxyList             func(*http.Request) ([]*url.URL, error)
	badProxyTimeout       time.Duration // resolved: DefaultBadProxyTimeout for zero
	useForwardingForHTTPS bool
	proxyHeader           http.Header // cloned
	proxyConnectHeader    http.Header // cloned
	getProxyConnectHeader func(ctx context.Context, proxyURL *url.URL, target string) (http.Header, error)
	disableKeepAlives     bool
	disableCompression    bool
	onUnverifiedConn      func(ConnInfo) error
	logger                *slog.Logger

	originPinned, proxyPinned bool // OriginVerify / ProxyVerify have a Fingerprint
	tlsDialer                 bool // DialTLSContext is set

	// err fails every request: a setting that can never work.
	err error
	// proxyHeaderErr fails every request that goes through a proxy: a
	// ProxyHeader or ProxyConnectHeader that must not be sent.
	proxyHeaderErr error
}

// freeze copies t's per-request fields and checks what can be checked once.
func (t *Transport) freeze() *settings {
	s := &settings{
		proxy:                 t.Proxy,
		proxyList:             t.ProxyList,
		badProxyTimeout:       t.BadProxyTimeout,
		useForwardingForHTTPS: t.UseForwardingForHTTPS,
		proxyHeader:           t.ProxyHeader.Clone(),
		proxyConnectHeader:    t.ProxyConnectHeader.Clone(),
		getProxyConnectHeader: t.GetProxyConnectHeader,
		disableKeepAlives:     t.DisableKeepAlives,
		disableCompression:    t.DisableCompression,
		onUnverifiedConn:      t.OnUnverifiedConn,
		logger:                t.Logger,
		originPinned:          t.OriginVerify.Fingerprint != "",
		proxyPinned:           t.ProxyVerify.Fingerprint != "",
		tlsDialer:             t.DialTLSContext != nil,
	}
	for _, f := range []struct {
		field string
		pin   string
	}{{"OriginVerify.Fingerprint", t.OriginVerify.Fingerprint}, {"ProxyVerify.Fingerprint", t.ProxyVerify.Fingerprint}} {
		if f.pin == "" {
			continue
		}
		if _, err := verify.ParseFingerprint(f.pin); err != nil {
			s.err = &ConfigError{Field: f.field, Err: err}
			break
		}
	}
	if s.badProxyTimeout == 0 {
		s.badProxyTimeout = DefaultBadProxyTimeout
	}
	if t.Proxy != nil && t.ProxyList != nil {
		s.err = ErrProxyAndProxyList
	}
	for _, h := range []http.Header{s.proxyHeader, s.proxyConnectHeader} {
		if err := proxyconfig.ValidateHeader(h); err != nil {
			s.proxyHeaderErr = err
			break
		}
	}
	return s
}

// checkPins refuses a request whose route gives ferry no TLS handshake with
// a peer whose certificate is pinned: the pin could not be checked, and
// sending the request anyway would quietly drop what the pin promises.
func (s *settings) checkPins(r *route) error {
	if s.originPinned {
		var why string
		switch {
		case r.target.Scheme != "https":
			why = "the target " + r.target.Scheme + "://" + r.target.Addr() + " has no TLS"
		case r.mode == proxyconfig.Forward:
			why = "the proxy, not ferry, does TLS with the target (UseForwardingForHTTPS)"
		case r.proxy == nil && s.tlsDialer:
			why = "DialTLSContext, not ferry, does TLS with the target"
		}
		if why != "" {
			return &ConfigError{Field: "OriginVerify.Fingerprint", Err: fmt.Errorf("the pin cannot be checked: %s", why)}
		}
	}
	if s.proxyPinned && r.proxy != nil {
		var why string
		switch {
		case !strings.EqualFold(r.proxy.Scheme, "https"):
			why = "the proxy " + proxyconfig.Redacted(r.proxy) + " has no TLS"
		case s.tlsDialer:
			why = "DialTLSContext, not ferry, does TLS with the proxy"
		}
		if why != "" {
			return &ConfigError{Field: "ProxyVerify.Fingerprint", Err: fmt.Errorf("the pin cannot be checked: %s", why)}
		}
	}
	return nil
}
