package conn

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Sentinel errors for fixed conditions. Test for them with errors.Is.
var (
	// ErrConnectRefused is wrapped by the ProxyError of a CONNECT that the proxy
	// answered with a status other than 2xx.
	ErrConnectRefused = errors.New("ferry: proxy refused CONNECT")
	// ErrResponseHeaderTooLarge is returned when a response's header (or a CONNECT
	// reply's) is larger than Options.MaxResponseHeaderBytes.
	ErrResponseHeaderTooLarge = errors.New("ferry: response header too large")
	// ErrTooMany1xx is returned when a server sends more informational (1xx)
	// responses before the final one than a client should wait through.
	ErrTooMany1xx = errors.New("ferry: too many 1xx informational responses")
	// ErrNotConnected is returned by Request on a Conn that is not connected.
	ErrNotConnected = errors.New("ferry: connection not connected")
	// ErrClosed is returned when a Conn is used after Close without a new Connect.
	ErrClosed = errors.New("ferry: connection closed")
	// ErrBusy is returned by Request while the previous response is still being read.
	ErrBusy = errors.New("ferry: connection busy with another request")
	// ErrEarlyResponse is the write error recorded when the server sent its final
	// response before the request body was fully written, and ferry stopped writing.
	ErrEarlyResponse = errors.New("ferry: server answered before the request body was sent; body write stopped")
)

// ProxyError reports a failure that is the proxy's: dialling it, TLS to it, a
// CONNECT it refused or answered with something that is not HTTP, or a SOCKS
// refusal. Failures past the proxy (TLS to the origin, the origin's reply) are
// never ProxyErrors.
//
// The package ferry exports this type as ferry.ProxyError.
type ProxyError struct {
	// Proxy is the proxy's URL with its password replaced by "xxxxx" (as
	// url.URL.Redacted writes it); scheme, host, port and user name are kept,
	// so callers can tell proxies apart, and printing it leaks no secret.
	Proxy *url.URL
	// HasConnectedToProxy reports whether a TCP connection to the proxy was
	// made before the failure (urllib3's has_connected_to_proxy).
	HasConnectedToProxy bool
	// StatusCode, Header and Body are the proxy's reply to a refused CONNECT
	// (Body holds at most 64 KiB); zero otherwise.
	StatusCode int
	Header     http.Header
	Body       []byte
	// Err is the underlying error: a *net.OpError for a dial, a
	// *tls.CertificateVerificationError for the proxy's certificate,
	// ErrConnectRefused for a non-2xx CONNECT reply, a parse error for a garbled one.
	Err error
}

// redactedProxy returns a copy of u with its password, if any, replaced by
// "xxxxx"; nil stays nil.
func redactedProxy(u *url.URL) *url.URL {
	if u == nil {
		return nil
	}
	cp := *u
	if cp.User != nil {
		if _, ok := cp.User.Password(); ok {
			cp.User = url.UserPassword(cp.User.Username(), "xxxxx")
		}
	}
	return &cp
}

func (e *ProxyError) Error() string {
	var b strings.Builder
	b.WriteString("ferry: proxy ")
	if e.Proxy != nil {
		b.WriteString(e.Proxy.Redacted())
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("failed")
	}
	if e.StatusCode != 0 && !errors.Is(e.Err, ErrConnectRefused) {
		fmt.Fprintf(&b, " (status %d)", e.StatusCode)
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *ProxyError) Unwrap() error { return e.Err }

// Timeout reports whether the underlying error is a timeout, so that callers
// checking net.Error keep working.
func (e *ProxyError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}

// TimeoutError reports that a phase of the connection did not finish within
// a limit of Options. It satisfies net.Error with Timeout() true.
//
// Op is "connect" while the connection is being set up (Options.ConnectTimeout
// for the whole of it, Options.TLSHandshakeTimeout for one handshake) and
// "read" while waiting for the next bytes of a response (Options.ReadTimeout,
// or ResponseHeaderTimeout for the response header). Stage names the step
// that was under way: "dial", "TLS handshake", "CONNECT" or "SOCKS" for
// "connect"; "response header" or "response body" for "read". Setting names
// the limit that fired ("ConnectTimeout", "TLSHandshakeTimeout",
// "ReadTimeout", "ResponseHeaderTimeout") and Limit is its value.
//
// A deadline or cancellation of the caller's own context is never a
// TimeoutError: the context's error is returned, as net/http does.
type TimeoutError struct {
	Op      string
	Stage   string
	Setting string
	Limit   time.Duration
	Err     error
}

func (e *TimeoutError) Error() string {
	var b strings.Builder
	b.WriteString("ferry: ")
	b.WriteString(e.Op)
	b.WriteString(" timeout")
	if e.Stage != "" {
		b.WriteString(" during ")
		b.WriteString(e.Stage)
	}
	b.WriteString(" (")
	if e.Setting != "" {
		b.WriteString(e.Setting)
		b.WriteString(" ")
	}
	b.WriteString(e.Limit.String())
	b.WriteString("): ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("timed out")
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *TimeoutError) Unwrap() error { return e.Err }

// Timeout is always true; it makes TimeoutError a net.Error.
func (e *TimeoutError) Timeout() bool { return true }

// Temporary is always true, as for net.Error timeouts.
func (e *TimeoutError) Temporary() bool { return true }

// WriteError reports that writing the request failed and no response could be
// read after it. Err is the write error (EPIPE and ECONNRESET stay reachable
// with errors.Is).
type WriteError struct {
	Err error
}

func (e *WriteError) Error() string { return "ferry: writing request: " + e.Err.Error() }

// Unwrap returns the write error.
func (e *WriteError) Unwrap() error { return e.Err }

// BodyReadError reports that reading the caller's request body failed while it
// was being sent.
type BodyReadError struct {
	Err error
}

func (e *BodyReadError) Error() string { return "ferry: reading request body: " + e.Err.Error() }

// Unwrap returns the body's error.
func (e *BodyReadError) Unwrap() error { return e.Err }
