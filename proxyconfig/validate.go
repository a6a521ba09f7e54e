package proxyconfig

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Sentinels wrapped by InvalidProxyURLError, InvalidTargetError and
// InvalidHeaderError. Test with errors.Is.
var (
	ErrUnsupportedScheme = errors.New("proxyconfig: unsupported proxy scheme (want http, https, socks5 or socks5h)")
	ErrMissingHost       = errors.New("proxyconfig: proxy URL has no host")
	ErrBadPort           = errors.New("proxyconfig: bad port")
	ErrPathOrQuery       = errors.New("proxyconfig: proxy URL has a path, query or fragment, which would be ignored")
	ErrInvalidCharacter  = errors.New("proxyconfig: control character or space")
	ErrInvalidTarget     = errors.New("proxyconfig: invalid tunnel target")
	ErrInvalidHeader     = errors.New("proxyconfig: invalid proxy header")
)

// InvalidProxyURLError reports a proxy URL refused before any dial.
type InvalidProxyURLError struct {
	URL string // with the password redacted
	Err error
}

func (e *InvalidProxyURLError) Error() string {
	return fmt.Sprintf("%v: %q", e.Err, e.URL)
}

// Unwrap returns the sentinel.
func (e *InvalidProxyURLError) Unwrap() error { return e.Err }

// InvalidHeaderError names a proxy header refused before anything was sent.
type InvalidHeaderError struct {
	Key string
	Err error
}

func (e *InvalidHeaderError) Error() string {
	return fmt.Sprintf("%v: %q", e.Err, e.Key)
}

// Unwrap returns the sentinel.
func (e *InvalidHeaderError) Unwrap() error { return e.Err }

// Parse parses a proxy URL as configuration and the environment spell it: a
// value without a scheme is http ("proxy:3128", "[::1]:3128"), as httpproxy
// does. The result is checked with Validate.
func Parse(raw string) (*url.URL, error) {
	if hasCTL(raw) {
		return nil, &InvalidProxyURLError{URL: redactRaw(raw), Err: ErrInvalidCharacter}
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		cause := ErrMissingHost
		if strings.Contains(err.Error(), "invalid port") {
			cause = ErrBadPort // url.Parse refuses non-numeric ports itself
		}
		return nil, &InvalidProxyURLError{URL: redactRaw(raw), Err: fmt.Errorf("%w: %w", cause, err)}
	}
	if err := Validate(u); err != nil {
		return nil, err
	}
	return u, nil
}

// Validate checks a proxy URL: scheme http, https, socks5 or socks5h; a host;
// a port, if any, of 1 to 65535; no control characters or spaces. A path
// other than "/", a query or a fragment is refused: a proxy URL has none, and
// silently ignoring them hides typos.
func Validate(u *url.URL) error {
	if u == nil {
		return &InvalidProxyURLError{Err: ErrMissingHost}
	}
	bad := func(err error) error { return &InvalidProxyURLError{URL: Redacted(u), Err: err} }
	switch strings.ToLower(u.Scheme) {
	case "http", "https", "socks5", "socks5h":
	default:
		return bad(ErrUnsupportedScheme)
	}
	if hasCTL(u.Host) || hasCTL(u.User.String()) || hasCTL(u.Path) {
		return bad(ErrInvalidCharacter)
	}
	if u.Hostname() == "" {
		return bad(ErrMissingHost)
	}
	for i := 0; i < len(u.Host); i++ {
		if u.Host[i] >= 0x80 {
			// A proxy host is ASCII (IDNs go as punycode); raw bytes would
			// not survive String() and a re-parse (found by FuzzParse).
			return bad(ErrInvalidCharacter)
		}
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad(ErrBadPort)
		}
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || u.Opaque != "" {
		return bad(ErrPathOrQuery)
	}
	return nil
}

// Redacted returns u as a string with its password replaced; "" for nil.
func Redacted(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Redacted()
}

func redactRaw(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		return "xxxxx@" + raw[i+1:]
	}
	return raw
}

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// HostPort returns u's host, without brackets, and its port, or the
// scheme's default port when u names none.
func HostPort(u *url.URL) (host, port string) {
	port = u.Port()
	if port == "" {
		port = DefaultPort(u.Scheme)
	}
	return u.Hostname(), port
}

// Authority returns host:port for a CONNECT request target and its Host
// header: the port always explicit, an IPv6 host bracketed once (a host that
// arrives bracketed is not bracketed again). A zone ("fe80::1%eth0") is kept
// as RFC 6874 writes it in a URI ("[fe80::1%25eth0]"). Hosts with control
// characters, spaces, '/', '@', or an empty host, and bad ports are refused.
func Authority(host, port string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("%w: %q port %q: %s", ErrInvalidTarget, host, port, why)
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if host == "" {
		return "", bad("empty host")
	}
	if hasCTL(host) || strings.ContainsAny(host, "/@[]?#\\") {
		return "", bad("forbidden character in host")
	}
	if _, ok := parsePort(port); !ok {
		return "", bad("bad port")
	}
	if strings.Contains(host, ":") {
		if i := strings.IndexByte(host, '%'); i >= 0 && !strings.HasPrefix(host[i:], "%25") {
			host = host[:i] + "%25" + host[i+1:]
		}
		return "[" + host + "]:" + port, nil
	}
	return net.JoinHostPort(host, port), nil
}

// parsePort returns the value of a port of 1 to 65535 written in decimal
// digits only (strconv.Atoi alone would take "+80"), and whether p is one.
func parsePort(p string) (int, bool) {
	n, err := strconv.Atoi(p)
	return n, err == nil && n >= 1 && n <= 65535 && strings.TrimLeft(p, "0123456789") == ""
}

// ValidateHeader refuses header names that are not tokens and values with
// CR, LF or NUL, naming the bad key.
func ValidateHeader(h http.Header) error {
	for k, vs := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return &InvalidHeaderError{Key: k, Err: fmt.Errorf("%w: bad name", ErrInvalidHeader)}
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return &InvalidHeaderError{Key: k, Err: fmt.Errorf("%w: bad value", ErrInvalidHeader)}
			}
		}
	}
	return nil
}

// BasicAuth returns the Proxy-Authorization value for u's user information
// ("Basic " + base64 of user:password), and false when u has none.
func BasicAuth(u *url.URL) (string, bool) {
	if u == nil || u.User == nil {
		return "", false
	}
	pw, _ := u.User.Password()
	cred := u.User.Username() + ":" + pw
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(cred)), true
}
