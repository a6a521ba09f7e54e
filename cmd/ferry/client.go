package main

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
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/proxyconfig"
	"github.com/ferryhttp/ferry/verify"
)

// clientOptions are the flags `ferry get` and `ferry bench` share: where a
// request goes, how each peer is verified, and what the request carries.
type clientOptions struct {
	Proxy          string
	Headers        []string
	ProxyHeaders   []string
	ForwardHTTPS   bool
	CACert         string
	ProxyCACert    string
	Pin            string
	ProxyPin       string
	Insecure       bool
	ProxyInsecure  bool
	ConnectTimeout time.Duration
	ReadTimeout    time.Duration
	Method         string
	Data           string
	HasData        bool
	ProxyAuth      proxyAuthOptions
	HTTP2          bool
}

// register adds the shared flags to fs: the one place to add a flag that
// both commands take.
func (o *clientOptions) register(fs *flagSet) {
	fs.stringVar(&o.Proxy, "-x, --proxy", "URL", "proxy (default: HTTP_PROXY/HTTPS_PROXY/ALL_PROXY/NO_PROXY)")
	fs.listVar(&o.Headers, "-H, --header", "'K: V'", "request header (repeatable)")
	fs.listVar(&o.ProxyHeaders, "--proxy-header", "'K: V'", "header for the proxy: CONNECT or forwarded request (repeatable)")
	fs.boolVar(&o.ForwardHTTPS, "--forward-https", "send https:// URLs to an https proxy in absolute form")
	fs.stringVar(&o.CACert, "--cacert", "FILE", "CA certificates (PEM) for the origin")
	fs.stringVar(&o.ProxyCACert, "--proxy-cacert", "FILE", "CA certificates (PEM) for an https proxy")
	fs.stringVar(&o.Pin, "--pin", "SHA256", "pin the origin's leaf certificate (hex SHA-256)")
	fs.stringVar(&o.ProxyPin, "--proxy-pin", "SHA256", "pin the proxy's leaf certificate")
	fs.boolVar(&o.Insecure, "-k, --insecure", "do not verify the origin's certificate")
	fs.boolVar(&o.ProxyInsecure, "--proxy-insecure", "do not verify an https proxy's certificate")
	fs.durationVar(&o.ConnectTimeout, "--connect-timeout", "bound dial, TLS and CONNECT (e.g. 5s)", 24*time.Hour)
	fs.durationVar(&o.ReadTimeout, "--read-timeout", "bound every wait for response bytes", 24*time.Hour)
	fs.stringVar(&o.Method, "-X, --request", "METHOD", "method (default GET, or POST with -d)")
	fs.add("-d, --data", "DATA", "body: literal text, @FILE, or - for standard input;\n"+strings.Repeat(" ", 31)+
		"Content-Type: application/x-www-form-urlencoded unless -H sets one",
		func(v string) error { o.Data, o.HasData = v, true; return nil })
	o.ProxyAuth.register(fs)
	fs.boolVar(&o.HTTP2, "--http2", "offer HTTP/2 to https origins (direct, tunnels, TLS in TLS, SOCKS)")
}

// exitError carries the exit code a failure maps to.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCodeOf is the exit code err maps to: an *exitError's (wrapped or
// not), or exitInternal for any other error.
func exitCodeOf(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitInternal
}

func usageErr(format string, a ...any) error {
	return &exitError{exitUsage, fmt.Errorf(format, a...)}
}

// client is what the shared flags become once checked: everything that can
// be refused is refused here, before anything is dialled.
type client struct {
	opts      *clientOptions
	target    *url.URL
	proxyFor  func(*url.URL) (*url.URL, error) // nil: no proxy
	proxy     *url.URL                         // the proxy for target, or nil
	proxyFrom string                           // "-x" or the variable's name
	header    http.Header
	proxyHdr  http.Header
	originTLS *tls.Config // RootCAs from --cacert, or nil
	proxyTLS  *tls.Config // RootCAs from --proxy-cacert, or nil
	originPEM []byte      // the --cacert file, for netHTTPTransport
	proxyPEM  []byte      // the --proxy-cacert file, for netHTTPTransport
}

// newClient checks the URL and the shared flags. Every error is an
// *exitError: 2 for a bad setting, 26 for a -d @FILE that cannot be read.
func newClient(o *clientOptions, rawURL string) (*client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErr("URL %q: want http:// or https:// with a host", rawURL)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, usageErr("URL %s: port %q is not in 1-65535", u.Redacted(), p)
		}
	}
	c := &client{opts: o, target: u}
	if err := c.resolveProxy(); err != nil {
		return nil, err
	}
	if c.header, err = parseHeaders("-H", o.Headers); err != nil {
		return nil, err
	}
	if c.proxyHdr, err = parseHeaders("--proxy-header", o.ProxyHeaders); err != nil {
		return nil, err
	}
	if err := proxyconfig.ValidateHeader(c.proxyHdr); err != nil {
		return nil, usageErr("--proxy-header: %v", err)
	}
	if o.HasData && c.header.Get("Content-Type") == "" {
		c.header.Set("Content-Type", "application/x-www-form-urlencoded") // as curl -d
	}
	if o.Pin != "" {
		if _, err := verify.ParseFingerprint(o.Pin); err != nil {
			return nil, usageErr("--pin %q: %v", o.Pin, err)
		}
		if u.Scheme != "https" {
			return nil, usageErr("--pin: %s has no TLS to pin", u.Redacted())
		}
	}
	if o.ProxyPin != "" {
		if _, err := verify.ParseFingerprint(o.ProxyPin); err != nil {
			return nil, usageErr("--proxy-pin %q: %v", o.ProxyPin, err)
		}
		if c.proxy == nil || c.proxy.Scheme != "https" {
			return nil, usageErr("--proxy-pin: no https:// proxy for %s", u.Redacted())
		}
	}
	if c.originTLS, c.originPEM, err = tlsWithCA("--cacert", o.CACert); err != nil {
		return nil, err
	}
	if c.proxyTLS, c.proxyPEM, err = tlsWithCA("--proxy-cacert", o.ProxyCACert); err != nil {
		return nil, err
	}
	return c, nil
}

// resolveProxy picks the proxy from -x or the environment and refuses a bad
// one, wherever it came from: a typo in HTTP_PROXY is a usage error as much
// as one in -x.
func (c *client) resolveProxy() error {
	if c.opts.Proxy != "" {
		p, err := proxyconfig.Parse(c.opts.Proxy)
		if err != nil {
			return usageErr("-x: %v", err)
		}
		c.proxyFor = func(*url.URL) (*url.URL, error) { return p, nil }
		c.proxy, c.proxyFrom = p, "-x"
		return nil
	}
	env := proxyconfig.FromEnvironment()
	f := env.ProxyFunc()
	p, err := f(c.target)
	if err != nil {
		return usageErr("proxy from the environment (%s): %v", envNames(env, c.target), err)
	}
	if p != nil {
		c.proxyFor, c.proxy, c.proxyFrom = f, p, envNames(env, c.target)
	} else if env != (proxyconfig.Env{}) {
		c.proxyFor = f // a redirect may lead to a URL the environment proxies
	}
	return nil
}

// envNames names the variable a proxy for u comes from, for messages.
func envNames(env proxyconfig.Env, u *url.URL) string {
	if u.Scheme == "https" && env.HTTPSProxy != "" {
		return "HTTPS_PROXY"
	}
	if u.Scheme == "http" && env.HTTPProxy != "" {
		return "HTTP_PROXY"
	}
	return "ALL_PROXY"
}

func parseHeaders(flag string, lines []string) (http.Header, error) {
	h := http.Header{}
	for _, line := range lines {
		k, v, ok := strings.Cut(line, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, usageErr("%s %q: want 'Name: value'", flag, line)
		}
		h.Add(k, strings.TrimSpace(v))
	}
	return h, nil
}

// tlsWithCA reads the CA file a flag names and returns a config with those
// roots, and the file's bytes; nil, nil without a file.
func tlsWithCA(flag, file string) (*tls.Config, []byte, error) {
	if file == "" {
		return nil, nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, usageErr("%s: %v", flag, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, usageErr("%s %s: no PEM certificates", flag, file)
	}
	return &tls.Config{RootCAs: pool}, pem, nil
}

// mode is how a request to u travels, for -v and bench's header line.
func (c *client) mode(u *url.URL) proxyconfig.Mode {
	var p *url.URL
	if c.proxyFor != nil {
		p, _ = c.proxyFor(u)
	}
	m, _ := proxyconfig.Select(p, u, c.opts.ForwardHTTPS)
	return m
}

// proxyFunc adapts proxyFor to Transport.Proxy.
func (c *client) proxyFunc() func(*http.Request) (*url.URL, error) {
	if c.proxyFor == nil {
		return nil
	}
	return func(r *http.Request) (*url.URL, error) { return c.proxyFor(r.URL) }
}

// dialCounter counts connections dialled and closed through a transport's
// DialContext, so bench can say how many connections each transport opened
// and how many it still holds.
type dialCounter struct {
	dialled, closed atomic.Int64
}

func (d *dialCounter) dialContext(timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		d.dialled.Add(1)
		return &countedConn{Conn: nc, d: d}, nil
	}
}

type countedConn struct {
	net.Conn
	d    *dialCounter
	once atomic.Bool
}

func (c *countedConn) Close() error {
	if c.once.CompareAndSwap(false, true) {
		c.d.closed.Add(1)
	}
	return c.Conn.Close()
}

// ferryTransport builds the ferry.Transport the flags describe.
func (c *client) ferryTransport(dc *dialCounter, maxIdlePerHost int) *ferry.Transport {
	o := c.opts
	tr := &ferry.Transport{
		Proxy:                 c.proxyFunc(),
		UseForwardingForHTTPS: o.ForwardHTTPS,
		ConnectTimeout:        o.ConnectTimeout,
		ReadTimeout:           o.ReadTimeout,
		TLSClientConfig:       c.originTLS,
		ProxyTLSClientConfig:  c.proxyTLS,
		OriginVerify:          verify.Policy{Fingerprint: o.Pin, InsecureSkipVerify: o.Insecure},
		ProxyVerify:           verify.Policy{Fingerprint: o.ProxyPin, InsecureSkipVerify: o.ProxyInsecure},
		MaxIdleConnsPerHost:   maxIdlePerHost,
		ProxyAuth:             o.ProxyAuth.schemes(),
		ForceAttemptHTTP2:     o.HTTP2,
	}
	tr.Proxy = o.ProxyAuth.withUser(tr.Proxy)
	if len(c.proxyHdr) > 0 {
		tr.ProxyHeader = c.proxyHdr.Clone()
	}
	if dc != nil {
		tr.DialContext = dc.dialContext(o.ConnectTimeout)
	}
	return tr
}

// netHTTPTransport builds the closest http.Transport (HTTP/2 only with --http2), for
// bench to compare against. Flags net/http has no equivalent for are
// refused rather than silently dropped, so both sides do the same work.
func (c *client) netHTTPTransport(dc *dialCounter, maxIdlePerHost int) (*http.Transport, error) {
	o := c.opts
	switch {
	case o.Pin != "" || o.ProxyPin != "":
		return nil, usageErr("--pin and --proxy-pin have no net/http equivalent: use --transport ferry")
	case o.ForwardHTTPS:
		return nil, usageErr("--forward-https has no net/http equivalent: use --transport ferry")
	case len(o.ProxyAuth.Schemes) > 0:
		return nil, usageErr("--proxy-basic, --proxy-digest, --proxy-ntlm, --proxy-negotiate and --proxy-anyauth have no net/http equivalent (-U alone does): use --transport ferry")
	case o.ProxyInsecure && !o.Insecure:
		return nil, usageErr("--proxy-insecure without -k has no net/http equivalent (one TLS config for both peers): use --transport ferry")
	}
	cfg := &tls.Config{InsecureSkipVerify: o.Insecure}
	if c.originTLS != nil || c.proxyTLS != nil {
		// net/http verifies the proxy and the origin with one config: it gets both sets of roots.
		cfg.RootCAs = x509.NewCertPool()
		cfg.RootCAs.AppendCertsFromPEM(c.originPEM) // nil without the flag: adds nothing
		cfg.RootCAs.AppendCertsFromPEM(c.proxyPEM)
	}
	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	protos.SetHTTP2(o.HTTP2)
	tr := &http.Transport{
		Proxy:                 c.proxyFunc(),
		TLSClientConfig:       cfg,
		TLSHandshakeTimeout:   o.ConnectTimeout,
		ResponseHeaderTimeout: o.ReadTimeout,
		MaxIdleConnsPerHost:   maxIdlePerHost,
		Protocols:             protos,
	}
	tr.Proxy = o.ProxyAuth.withUser(tr.Proxy)
	if len(c.proxyHdr) > 0 {
		tr.ProxyConnectHeader = c.proxyHdr.Clone()
	}
	if dc != nil {
		tr.DialContext = dc.dialContext(o.ConnectTimeout)
	}
	return tr, nil
}

// bodyReader opens the request body the -d flag names: literal text,
// @FILE or - for stdin; nil without -d. A file that cannot be opened is
// exit 26.
func (c *client) bodyReader(stdin io.Reader) (io.Reader, error) {
	if !c.opts.HasData {
		return nil, nil
	}
	switch d := c.opts.Data; {
	case d == "-":
		return stdin, nil
	case strings.HasPrefix(d, "@"):
		f, err := os.Open(d[1:])
		if err != nil {
			return nil, &exitError{exitRead, fmt.Errorf("-d: %v", err)}
		}
		return f, nil
	default:
		return strings.NewReader(d), nil
	}
}

// bodyBytes returns the request body the -d flag names, read whole (bench
// sends it many times), at most limit bytes.
func (c *client) bodyBytes(stdin io.Reader, limit int64) ([]byte, error) {
	r, err := c.bodyReader(stdin)
	if r == nil || err != nil {
		return nil, err
	}
	if f, ok := r.(*os.File); ok && c.opts.Data != "-" {
		defer f.Close() // the -d file, not standard input
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, &exitError{exitRead, err}
	}
	if int64(len(b)) > limit {
		return nil, usageErr("-d: more than %d bytes", limit)
	}
	return b, nil
}

// method is -X, or POST with -d, or GET.
func (c *client) method() string {
	switch {
	case c.opts.Method != "":
		return c.opts.Method
	case c.opts.HasData:
		return http.MethodPost
	}
	return http.MethodGet
}

// peerFailure turns a round-trip error into an exit code and a message
// that names the peer that failed (the proxy or the origin) and the URL,
// with passwords redacted. Codes go by cause: an invalid setting is 2
// wherever it was found, a timeout 28 whichever peer it was at.
func (c *client) peerFailure(err error, u *url.URL) (int, string) {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
		if pu, perr := url.Parse(ue.URL); perr == nil {
			u = pu
		}
	}
	target := u.Redacted()
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code, ee.err.Error()
	}
	var ipe *proxyconfig.InvalidProxyURLError
	if errors.As(err, &ipe) {
		return exitUsage, fmt.Sprintf("invalid proxy for %s: %v", target, ipe)
	}
	if errors.Is(err, ferry.ErrInvalidRequest) {
		return exitUsage, fmt.Sprintf("invalid request %s: %v", target, err)
	}
	var proxy *url.URL
	if c.proxyFor != nil {
		proxy, _ = c.proxyFor(u)
	}
	var pe *ferry.ProxyError
	isProxy := errors.As(err, &pe)
	var peer string
	if isProxy {
		if pe.Proxy != nil {
			proxy = pe.Proxy
		}
		peer = "proxy " + proxyconfig.Redacted(proxy)
		err = pe.Err
		if pe.StatusCode != 0 {
			err = fmt.Errorf("CONNECT answered %d %s", pe.StatusCode, http.StatusText(pe.StatusCode))
		}
	} else {
		peer = "origin " + u.Scheme + "://" + u.Host
		if proxy != nil {
			peer += " (through proxy " + proxyconfig.Redacted(proxy) + ")"
		}
	}
	var ne net.Error
	var cve *tls.CertificateVerificationError
	code := exitOrigin
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		code = exitTimeout
	case errors.As(err, &cve):
		code = exitCert
	case isProxy:
		code = exitProxy
	}
	return code, fmt.Sprintf("%s failed for %s: %v", peer, target, err)
}
