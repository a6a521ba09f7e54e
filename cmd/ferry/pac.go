package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/pac"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// usePAC loads the PAC script named by --pac (a file, or an https URL
// fetched with the --cacert roots) and makes it tr's proxy list, in place
// of -x and the environment. printf gets -v's lines: each decision, with
// the URL and the script's answer.
func usePAC(ctx context.Context, tr *ferry.Transport, c *client, source string, printf func(string, ...any)) error {
	if c.opts.Proxy != "" {
		return usageErr("--pac and --proxy exclude each other")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// c.originTLS is the --cacert config newClient built; the Transport
	// copies it at first use, so sharing it is safe.
	script, err := pac.Load(ctx, source, pac.Options{
		HTTPClient: &http.Client{Transport: &ferry.Transport{TLSClientConfig: c.originTLS}, Timeout: 30 * time.Second},
	})
	if err != nil {
		return usageErr("--pac: %v", err)
	}
	// The environment's proxy is not used; messages must not name it.
	c.proxyFor, c.proxy = nil, nil
	tr.Proxy = nil
	userinfo := c.opts.ProxyAuth.userinfo()
	tr.ProxyList = func(req *http.Request) ([]*url.URL, error) {
		answer, routes, err := script.Decide(req.Context(), req.URL)
		if err != nil {
			printf("* PAC for %s: %v\n", req.URL.Redacted(), err)
			// The proxy configuration failed: a proxy failure (exit 5).
			return nil, &exitError{exitProxy, fmt.Errorf("proxy auto-config for %s: %w", req.URL.Redacted(), err)}
		}
		printf("* PAC for %s: %q -> %s\n", req.URL.Redacted(), answer, proxyconfig.FormatPAC(routes))
		if userinfo != nil {
			// -U is for whichever proxy the script chose; the script's
			// answer may be cached, so the routes are copied.
			withUser := make([]*url.URL, len(routes))
			for i, p := range routes {
				if p != nil {
					p = withUserinfo(p, userinfo)
				}
				withUser[i] = p
			}
			routes = withUser
		}
		return routes, nil
	}
	return nil
}

// describeRoute prints, for -v, the proxy list entries that failed before
// the one that served the request (FormatPAC names a nil entry DIRECT).
func describeRoute(printf func(string, ...any), resp *http.Response) {
	info, ok := ferry.ConnInfoOf(resp)
	if !ok || len(info.Skipped) == 0 {
		return
	}
	for i, s := range info.Skipped {
		printf("* entry %d, %s, failed: %v\n", i+1, proxyconfig.FormatPAC([]*url.URL{s.Proxy}), s.Err)
	}
	printf("* entry %d, %s, served the request\n", len(info.Skipped)+1, proxyconfig.FormatPAC([]*url.URL{info.Proxy}))
}

// listFailure rewrites the message of a proxy list whose every entry
// failed (an errors.Join): one line per entry instead of the first alone.
func listFailure(err error, code int, msg string) (int, string) {
	var j interface{ Unwrap() []error }
	if !errors.As(err, &j) || len(j.Unwrap()) < 2 {
		return code, msg
	}
	var b strings.Builder
	b.WriteString("every entry of the proxy list failed:")
	for i, e := range j.Unwrap() {
		fmt.Fprintf(&b, "\n  %d. %v", i+1, e)
	}
	return code, b.String()
}
