package proxyconfig

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// MaxPACEntries bounds the routes ParsePAC keeps from one result: each entry
// may cost a dial when the ones before it fail, and a script that returns
// thousands of them must not turn one request into thousands of dials.
const MaxPACEntries = 32

// ErrNoUsableProxy is wrapped by the PACResultError of a PAC result that
// leaves no route ferry can use.
var ErrNoUsableProxy = errors.New("proxyconfig: PAC result has no usable entry")

// PACResultError reports a PAC result (the string FindProxyForURL returned)
// in which no entry was usable. Skipped says why each entry was dropped, for
// instance that SOCKS4 is not spoken by ferry.
type PACResultError struct {
	// Result is the script's answer, cut to 256 bytes.
	Result string
	// Skipped has one line per dropped entry: the entry and the reason.
	Skipped []string
}

func (e *PACResultError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %q", ErrNoUsableProxy, e.Result)
	if len(e.Skipped) > 0 {
		b.WriteString(" (skipped: ")
		b.WriteString(strings.Join(e.Skipped, "; "))
		b.WriteString(")")
	}
	return b.String()
}

// Unwrap returns ErrNoUsableProxy.
func (e *PACResultError) Unwrap() error { return ErrNoUsableProxy }

// ParsePAC turns a PAC result such as "PROXY a:3128; HTTPS b:443; DIRECT"
// into the ordered routes to try: a proxy URL per entry, nil for DIRECT.
//
// Entries are separated by ';' and read as browsers read them: the type is
// case-insensitive, spaces and tabs around and between the words are
// ignored, empty entries (a trailing ';') are dropped. Types:
//
//	PROXY, HTTP host[:port]  http://host:port   (port 80 if absent)
//	HTTPS host[:port]        https://host:port  (port 443 if absent)
//	SOCKS5 host[:port]       socks5h://host:port (port 1080 if absent)
//	DIRECT                   nil: no proxy
//
// SOCKS5 becomes socks5h because browsers let a SOCKS5 proxy resolve the
// target's name, which is what a network that hands out a PAC file expects.
// SOCKS and SOCKS4 mean SOCKS4, which ferry does not speak; they are skipped,
// as are unknown types (QUIC) and malformed hosts and ports. An IPv6 host is
// written in brackets ("[::1]:3128"). Repeated entries are kept once, and at
// most MaxPACEntries are kept. When nothing usable is left the error is a
// *PACResultError that says what was skipped and why.
func ParsePAC(result string) ([]*url.URL, error) {
	var (
		out     []*url.URL
		seen    = map[string]bool{}
		skipped []string
	)
	for _, el := range strings.Split(result, ";") {
		el = strings.Trim(el, pacSpace)
		if el == "" {
			continue
		}
		u, err := parsePACEntry(el)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("%q: %v", clip(el, 64), err))
			continue
		}
		key := "DIRECT"
		if u != nil {
			key = u.String()
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		if len(out) == MaxPACEntries {
			skipped = append(skipped, fmt.Sprintf("%q: more than %d entries", clip(el, 64), MaxPACEntries))
			break
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, &PACResultError{Result: clip(result, 256), Skipped: skipped}
	}
	return out, nil
}

// FormatPAC writes routes back as a PAC result ("PROXY h:p; DIRECT"), the
// inverse of ParsePAC for the routes it returns. Schemes other than http,
// https and socks5/socks5h are written as "?" entries, which ParsePAC skips.
func FormatPAC(routes []*url.URL) string {
	parts := make([]string, 0, len(routes))
	for _, u := range routes {
		if u == nil {
			parts = append(parts, "DIRECT")
			continue
		}
		host, port := HostPort(u)
		hp := net.JoinHostPort(host, port)
		switch strings.ToLower(u.Scheme) {
		case "http":
			parts = append(parts, "PROXY "+hp)
		case "https":
			parts = append(parts, "HTTPS "+hp)
		case "socks5", "socks5h":
			parts = append(parts, "SOCKS5 "+hp)
		default:
			parts = append(parts, "? "+hp)
		}
	}
	return strings.Join(parts, "; ")
}

// pacSpace is the white space browsers accept in a PAC result.
const pacSpace = " \t\r\n\f\v"

var (
	errSOCKS4      = errors.New("SOCKS4 is not supported by ferry (use SOCKS5)")
	errUnknownType = errors.New("unknown proxy type")
	errNoHost      = errors.New("no host:port")
	errExtraWords  = errors.New("unexpected words after the entry")
	errPACHost     = errors.New("bad host")
	errPACPort     = errors.New("bad port")
)

// parsePACEntry parses one non-empty, trimmed entry; nil means DIRECT.
func parsePACEntry(el string) (*url.URL, error) {
	words := strings.FieldsFunc(el, func(r rune) bool { return strings.ContainsRune(pacSpace, r) })
	typ := strings.ToUpper(words[0])
	var scheme string
	switch typ {
	case "DIRECT":
		if len(words) > 1 {
			return nil, errExtraWords
		}
		return nil, nil
	case "PROXY", "HTTP":
		scheme = "http"
	case "HTTPS":
		scheme = "https"
	case "SOCKS5":
		scheme = "socks5h"
	case "SOCKS", "SOCKS4":
		return nil, errSOCKS4
	default:
		return nil, fmt.Errorf("%w %q", errUnknownType, clip(words[0], 16))
	}
	switch {
	case len(words) < 2:
		return nil, errNoHost
	case len(words) > 2:
		return nil, errExtraWords
	}
	host, port, err := splitPACHostPort(words[1])
	if err != nil {
		return nil, err
	}
	if port == "" {
		port = DefaultPort(scheme)
	}
	// Validate accepts this by construction: a scheme of its list, a
	// non-empty ASCII host of [A-Za-z0-9._-] or a bracketed IPv6 literal
	// without zone, a port of 1 to 65535, nothing else (FuzzParsePAC checks).
	return &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port)}, nil
}

// splitPACHostPort splits "host", "host:port", "[v6]" or "[v6]:port". Hosts
// are names (letters, digits, '-', '.', '_') or IP literals; the name is
// lower-cased so equal proxies share a pool.
func splitPACHostPort(s string) (host, port string, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", fmt.Errorf("%w: missing ']'", errPACHost)
		}
		host, rest := s[1:end], s[end+1:]
		if ip := net.ParseIP(host); ip == nil || !strings.Contains(host, ":") {
			return "", "", fmt.Errorf("%w: %q is not an IPv6 address", errPACHost, clip(host, 64))
		}
		if rest != "" {
			if rest[0] != ':' {
				return "", "", fmt.Errorf("%w: text after ']'", errPACHost)
			}
			if port, err = checkPACPort(rest[1:]); err != nil {
				return "", "", err
			}
		}
		return strings.ToLower(host), port, nil
	}
	switch strings.Count(s, ":") {
	case 0:
		host = s
	case 1:
		i := strings.IndexByte(s, ':')
		host = s[:i]
		if port, err = checkPACPort(s[i+1:]); err != nil {
			return "", "", err
		}
	default:
		return "", "", fmt.Errorf("%w: an IPv6 address must be in brackets", errPACHost)
	}
	if host == "" {
		return "", "", fmt.Errorf("%w: empty", errPACHost)
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return "", "", fmt.Errorf("%w: %q", errPACHost, clip(host, 64))
		}
	}
	return strings.ToLower(host), port, nil
}

func checkPACPort(p string) (string, error) {
	n, ok := parsePort(p)
	if !ok {
		return "", fmt.Errorf("%w %q", errPACPort, clip(p, 16))
	}
	return strconv.Itoa(n), nil
}

// clip cuts s to at most n bytes for error messages.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
