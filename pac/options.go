package pac

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// MaxScriptSize is the largest script New accepts: 1 MiB. Real PAC files are
// a few KiB; a larger one is a mistake or an attack.
const MaxScriptSize = 1 << 20

// Defaults for the zero Options.
const (
	DefaultTimeout    = time.Second
	DefaultDNSTimeout = 500 * time.Millisecond
	DefaultCacheTTL   = 30 * time.Second
	DefaultRuntimes   = 4
	DefaultMaxStuck   = 4
)

// Resolver looks host names up for the DNS helpers (dnsResolve, isInNet,
// isResolvable, ...). *net.Resolver is one.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Options configure a Script. The zero value is ready to use.
type Options struct {
	// Resolver answers the DNS helpers. Nil means net.DefaultResolver.
	// Tests should always set it: the system resolver must not see test names.
	Resolver Resolver

	// MyAddrs returns this machine's addresses for myIpAddress and
	// myIpAddressEx. Nil finds the address of the default route (a UDP
	// "connect", which sends nothing), as Chromium does.
	MyAddrs func(context.Context) ([]netip.Addr, error)

	// Now is the clock of the script's Date, and so of weekdayRange,
	// dateRange and timeRange. Nil means time.Now.
	Now func() time.Time

	// Timeout bounds one evaluation of FindProxyForURL (and the script's
	// top level when a runtime is made). Zero means DefaultTimeout (1 s).
	Timeout time.Duration

	// DNSTimeout bounds each lookup of a DNS helper (always within Timeout).
	// Zero means DefaultDNSTimeout.
	DNSTimeout time.Duration

	// CacheTTL is how long an answer is reused for the same URL as the
	// script sees it (for https: scheme://host:port). Failures are reused
	// too, so a script that times out for a host costs one deadline per
	// CacheTTL, not one per request. Zero means DefaultCacheTTL; negative
	// turns the cache off.
	CacheTTL time.Duration

	// Runtimes is how many JavaScript runtimes may evaluate at once; each
	// serves one goroutine at a time. Zero means DefaultRuntimes.
	Runtimes int

	// MaxStuck is how many timed-out evaluations may still be running (a
	// builtin that ignores the interrupt) before new evaluations fail at
	// once with ErrTooManyStuck. Zero means DefaultMaxStuck.
	MaxStuck int

	// HTTPClient fetches scripts for LoadURL. Nil means a client with a
	// ferry.Transport that uses no proxy and a 30 s timeout.
	HTTPClient *http.Client

	// Logger gets the script's alert() messages at debug level. Nil: dropped.
	Logger *slog.Logger
}

func (o *Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

func (o *Options) dnsTimeout() time.Duration {
	if o.DNSTimeout > 0 {
		return o.DNSTimeout
	}
	return DefaultDNSTimeout
}

func (o *Options) cacheTTL() time.Duration {
	if o.CacheTTL == 0 {
		return DefaultCacheTTL
	}
	return o.CacheTTL
}

func (o *Options) runtimes() int {
	if o.Runtimes > 0 {
		return o.Runtimes
	}
	return DefaultRuntimes
}

func (o *Options) maxStuck() int {
	if o.MaxStuck > 0 {
		return o.MaxStuck
	}
	return DefaultMaxStuck
}

func (o *Options) resolver() Resolver {
	if o.Resolver != nil {
		return o.Resolver
	}
	return net.DefaultResolver
}

func (o *Options) myAddrs() func(context.Context) ([]netip.Addr, error) {
	if o.MyAddrs != nil {
		return o.MyAddrs
	}
	return defaultMyAddrs
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}
