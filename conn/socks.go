package conn

import (
	"context"
	"errors"
	"fmt"
	"net"

	"golang.org/x/net/proxy"
)

// connectSOCKS dials the target through a SOCKS5 proxy, then does TLS with an
// https target. socks5h lets the proxy resolve the name; socks5 resolves it here
// (as curl does), so the proxy sees an IP address.
func (c *Conn) connectSOCKS(ctx context.Context) error {
	var auth *proxy.Auth
	if u := c.proxy.User; u != nil {
		pw, _ := u.Password()
		auth = &proxy.Auth{User: u.Username(), Password: pw}
	}
	fwd := &recordingDialer{c: c}
	d, err := proxy.SOCKS5("tcp", c.proxyAddr(), auth, fwd)
	if err != nil {
		return c.proxyErr(err)
	}
	target := c.first
	if c.tunnel != nil {
		target = *c.tunnel
	}
	host := target.Host
	if c.proxy.Scheme == "socks5" && net.ParseIP(host) == nil {
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return err
		}
		if len(addrs) == 0 {
			return &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		host = addrs[0].IP.String()
	}
	cd, ok := d.(proxy.ContextDialer)
	if !ok {
		return c.proxyErr(errors.New("socks dialer cannot take a context"))
	}
	nc, err := cd.DialContext(ctx, "tcp", net.JoinHostPort(host, target.Port))
	if err != nil {
		if c.hasConnectedToProxy {
			err = fmt.Errorf("SOCKS5 connect to %s: %w", target.Addr(), err)
		}
		return c.proxyErr(err)
	}
	c.nc, c.raw = nc, nc
	if target.Scheme == "https" {
		c.stage = "TLS handshake"
		tc, st, verified, err := c.handshake(ctx, nc, target.Host, c.opts.TLSConfig, c.opts.OriginVerify)
		if err != nil {
			return err
		}
		c.nc, c.tlsState, c.isVerified = tc, st, verified
	}
	c.setUp()
	return nil
}

func (c *Conn) proxyAddr() string {
	port := c.proxy.Port()
	if port == "" {
		port = "1080"
	}
	return net.JoinHostPort(c.proxy.Hostname(), port)
}

// recordingDialer dials the SOCKS proxy with the Conn's dialer and records
// that the TCP connection to the proxy was made.
type recordingDialer struct{ c *Conn }

func (r *recordingDialer) Dial(network, addr string) (net.Conn, error) {
	return r.DialContext(context.Background(), network, addr)
}

func (r *recordingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nc, err := r.c.dial(ctx, addr)
	if err == nil {
		r.c.hasConnectedToProxy = true
		r.c.stage = "SOCKS"
	}
	return nc, err
}
