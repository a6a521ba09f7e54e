package proxyconfig

import (
	"fmt"
	"net/url"
	"strings"
)

// Mode is how a request travels.
type Mode int

// The modes of the table.
const (
	// Direct: to the target itself (also through a SOCKS dial).
	Direct Mode = iota
	// Forward: to the proxy, with an absolute-form request target.
	Forward
	// Tunnel: CONNECT through the proxy, then the request inside the tunnel.
	Tunnel
)

func (m Mode) String() string {
	switch m {
	case Direct:
		return "direct"
	case Forward:
		return "forward"
	case Tunnel:
		return "tunnel"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// MarshalText renders the mode as its name (for JSON output).
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// Select returns the mode for a request to target through proxy (nil: none).
// An http:// proxy never forwards an https:// target: it is always tunnelled.
// useForwardingForHTTPS only turns an https proxy with an https target into
// Forward (urllib3's use_forwarding_for_https).
func Select(proxy, target *url.URL, useForwardingForHTTPS bool) (Mode, error) {
	if target == nil {
		return Direct, fmt.Errorf("proxyconfig: nil target URL")
	}
	ts := strings.ToLower(target.Scheme)
	if ts != "http" && ts != "https" {
		return Direct, fmt.Errorf("proxyconfig: unsupported target scheme %q", target.Scheme)
	}
	if proxy == nil {
		return Direct, nil
	}
	switch strings.ToLower(proxy.Scheme) {
	case "socks5", "socks5h":
		return Direct, nil
	case "http":
		if ts == "https" {
			return Tunnel, nil
		}
		return Forward, nil
	case "https":
		if ts == "https" && !useForwardingForHTTPS {
			return Tunnel, nil
		}
		return Forward, nil
	}
	return Direct, &InvalidProxyURLError{URL: Redacted(proxy), Err: ErrUnsupportedScheme}
}

// DefaultPort returns the port a scheme implies: 80, 443, or 1080 for SOCKS.
func DefaultPort(scheme string) string {
	switch strings.ToLower(scheme) {
	case "https":
		return "443"
	case "socks5", "socks5h":
		return "1080"
	}
	return "80"
}
