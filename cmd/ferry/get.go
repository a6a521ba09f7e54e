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
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/proxyconfig"
	"github.com/ferryhttp/ferry/verify"
)

// getOptions are the parsed flags of `ferry get`.
type getOptions struct {
	URL            string
	Proxy          string
	Headers        []string
	ProxyHeaders   []string
	ForwardHTTPS   bool
	CACert         string
	ProxyCACert    string
	Pin            string
	ProxyPin       string
	Insecure       bool
	ConnectTimeout time.Duration
	ReadTimeout    time.Duration
	Method         string
	Data           string
	HasData        bool
	Output         string
	Fail           bool
	Verbose        bool
}

// flagSpec describes one flag: its names and whether it takes a value.
type flagSpec struct {
	names []string
	value bool
	set   func(o *getOptions, v string) error
}

func getFlags() []flagSpec {
	dur := func(dst *time.Duration) func(*getOptions, string) error {
		return func(_ *getOptions, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				if secs, err2 := time.ParseDuration(v + "s"); err2 == nil {
					d, err = secs, nil
				}
			}
			*dst = d
			return err
		}
	}
	return []flagSpec{
		{[]string{"-x", "--proxy"}, true, func(o *getOptions, v string) error { o.Proxy = v; return nil }},
		{[]string{"-H", "--header"}, true, func(o *getOptions, v string) error { o.Headers = append(o.Headers, v); return nil }},
		{[]string{"--proxy-header"}, true, func(o *getOptions, v string) error { o.ProxyHeaders = append(o.ProxyHeaders, v); return nil }},
		{[]string{"--forward-https"}, false, func(o *getOptions, _ string) error { o.ForwardHTTPS = true; return nil }},
		{[]string{"--cacert"}, true, func(o *getOptions, v string) error { o.CACert = v; return nil }},
		{[]string{"--proxy-cacert"}, true, func(o *getOptions, v string) error { o.ProxyCACert = v; return nil }},
		{[]string{"--pin"}, true, func(o *getOptions, v string) error { o.Pin = v; return nil }},
		{[]string{"--proxy-pin"}, true, func(o *getOptions, v string) error { o.ProxyPin = v; return nil }},
		{[]string{"-k", "--insecure"}, false, func(o *getOptions, _ string) error { o.Insecure = true; return nil }},
		{[]string{"--connect-timeout"}, true, func(o *getOptions, v string) error { return dur(&o.ConnectTimeout)(o, v) }},
		{[]string{"--read-timeout"}, true, func(o *getOptions, v string) error { return dur(&o.ReadTimeout)(o, v) }},
		{[]string{"-X", "--request"}, true, func(o *getOptions, v string) error { o.Method = v; return nil }},
		{[]string{"-d", "--data"}, true, func(o *getOptions, v string) error { o.Data, o.HasData = v, true; return nil }},
		{[]string{"-o", "--output"}, true, func(o *getOptions, v string) error { o.Output = v; return nil }},
		{[]string{"-f", "--fail"}, false, func(o *getOptions, _ string) error { o.Fail = true; return nil }},
		{[]string{"-v", "--verbose"}, false, func(o *getOptions, _ string) error { o.Verbose = true; return nil }},
	}
}

// parseGet parses flags in any order around the one URL, with short and
// long names, "--name=value" and "--name value".
func parseGet(args []string) (*getOptions, error) {
	specs := map[string]flagSpec{}
	for _, s := range getFlags() {
		for _, n := range s.names {
			specs[n] = s
		}
	}
	o := &getOptions{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			if i+1 < len(args) && o.URL == "" {
				o.URL = args[i+1]
				i++
			}
			continue
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			if o.URL != "" {
				return nil, fmt.Errorf("more than one URL: %q and %q", o.URL, a)
			}
			o.URL = a
			continue
		}
		name, val, hasVal := strings.Cut(a, "=")
		s, ok := specs[name]
		if !ok {
			return nil, fmt.Errorf("unknown flag %s", name)
		}
		if s.value && !hasVal {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag %s needs a value", name)
			}
			i++
			val = args[i]
		} else if !s.value && hasVal {
			return nil, fmt.Errorf("flag %s takes no value", name)
		}
		if err := s.set(o, val); err != nil {
			return nil, fmt.Errorf("flag %s: %v", name, err)
		}
	}
	if o.URL == "" {
		return nil, errors.New("no URL")
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("URL %q: want http:// or https:// with a host", o.URL)
	}
	return o, nil
}

func runGet(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseGet(args)
	if err != nil {
		fmt.Fprintf(stderr, "ferry get: %v (see ferry help)\n", err)
		return exitUsage
	}
	tr, err := buildTransport(o)
	if err != nil {
		fmt.Fprintf(stderr, "ferry get: %v\n", err)
		return exitUsage
	}
	defer tr.CloseIdleConnections()
	req, err := buildRequest(o, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "ferry get: %v\n", err)
		return exitUsage
	}
	var tm timings
	start := time.Now()
	if o.Verbose {
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), tm.trace(start)))
		tr.OnProxyConnectResponse = func(ctx context.Context, p *url.URL, creq *http.Request, cres *http.Response) error {
			fmt.Fprintf(stderr, "* CONNECT %s via %s: %s\n", creq.Host, proxyconfig.Redacted(p), cres.Status)
			return nil
		}
	}
	if f, ok := req.Body.(*os.File); ok && isTerminal(stderr) {
		if st, err := f.Stat(); err == nil && st.Size() > progressMin {
			req.Body = &progress{r: f, total: st.Size(), w: stderr, label: "upload"}
		}
	}
	resp, err := (&http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		return reportError(stderr, err)
	}
	defer resp.Body.Close()
	if o.Verbose {
		describe(stderr, resp, &tm, start)
	}
	out := stdout
	if o.Output != "" {
		f, err := os.Create(o.Output)
		if err != nil {
			fmt.Fprintf(stderr, "ferry get: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		out = f
	}
	var body io.Reader = resp.Body
	if isTerminal(stderr) && resp.ContentLength > progressMin {
		body = &progress{r: resp.Body, total: resp.ContentLength, w: stderr, label: "download"}
	}
	if _, err := io.Copy(out, body); err != nil {
		return reportError(stderr, err)
	}
	if o.Verbose {
		fmt.Fprintf(stderr, "* total %v\n", time.Since(start).Round(time.Microsecond))
	}
	if o.Fail && resp.StatusCode >= 400 {
		fmt.Fprintf(stderr, "ferry get: the server answered %s\n", resp.Status)
		return exitHTTP
	}
	return exitOK
}

func buildTransport(o *getOptions) (*ferry.Transport, error) {
	tr := &ferry.Transport{
		Proxy:                 ferry.ProxyFromEnvironment,
		UseForwardingForHTTPS: o.ForwardHTTPS,
		ConnectTimeout:        o.ConnectTimeout,
		ReadTimeout:           o.ReadTimeout,
		OriginVerify:          verify.Policy{Fingerprint: o.Pin, InsecureSkipVerify: o.Insecure},
		ProxyVerify:           verify.Policy{Fingerprint: o.ProxyPin},
	}
	if o.Proxy != "" {
		p, err := proxyconfig.Parse(o.Proxy)
		if err != nil {
			return nil, err
		}
		tr.Proxy = http.ProxyURL(p)
	}
	var err error
	if tr.TLSClientConfig, err = tlsWithCA(o.CACert); err != nil {
		return nil, err
	}
	if tr.ProxyTLSClientConfig, err = tlsWithCA(o.ProxyCACert); err != nil {
		return nil, err
	}
	if len(o.ProxyHeaders) > 0 {
		tr.ProxyHeader = http.Header{}
		for _, h := range o.ProxyHeaders {
			k, v, ok := strings.Cut(h, ":")
			if !ok {
				return nil, fmt.Errorf("--proxy-header %q: want 'Name: value'", h)
			}
			tr.ProxyHeader.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	return tr, nil
}

func tlsWithCA(file string) (*tls.Config, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificates", file)
	}
	return &tls.Config{RootCAs: pool}, nil
}

func buildRequest(o *getOptions, stdin io.Reader) (*http.Request, error) {
	method := o.Method
	var body io.Reader
	if o.HasData {
		if method == "" {
			method = http.MethodPost
		}
		switch {
		case o.Data == "-":
			body = stdin
		case strings.HasPrefix(o.Data, "@"):
			f, err := os.Open(o.Data[1:])
			if err != nil {
				return nil, err
			}
			body = f
		default:
			body = strings.NewReader(o.Data)
		}
	}
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequest(method, o.URL, body)
	if err != nil {
		return nil, err
	}
	if f, ok := body.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			req.ContentLength = st.Size()
		}
	}
	for _, h := range o.Headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			return nil, fmt.Errorf("-H %q: want 'Name: value'", h)
		}
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return req, nil
}

// reportError prints one line and picks the exit code: the proxy's fault,
// a timeout, or the origin's/network's.
func reportError(stderr io.Writer, err error) int {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var pe *ferry.ProxyError
	if errors.As(err, &pe) {
		fmt.Fprintf(stderr, "ferry get: proxy failure: %v\n", pe)
		return exitProxy
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		fmt.Fprintf(stderr, "ferry get: timeout: %v\n", err)
		return exitTimeout
	}
	fmt.Fprintf(stderr, "ferry get: %v\n", err)
	return exitOrigin
}

// timings collects httptrace events for -v.
type timings struct {
	dns, connect, tls, firstByte time.Duration
}

func (t *timings) trace(start time.Time) *httptrace.ClientTrace {
	var dnsStart, connStart, tlsStart time.Time
	return &httptrace.ClientTrace{
		DNSStart:             func(httptrace.DNSStartInfo) { dnsStart = time.Now() },
		DNSDone:              func(httptrace.DNSDoneInfo) { t.dns += time.Since(dnsStart) },
		ConnectStart:         func(string, string) { connStart = time.Now() },
		ConnectDone:          func(string, string, error) { t.connect += time.Since(connStart) },
		TLSHandshakeStart:    func() { tlsStart = time.Now() },
		TLSHandshakeDone:     func(tls.ConnectionState, error) { t.tls += time.Since(tlsStart) },
		GotFirstResponseByte: func() { t.firstByte = time.Since(start) },
	}
}

func describe(w io.Writer, resp *http.Response, t *timings, start time.Time) {
	info, _ := ferry.ConnInfoOf(resp)
	proxy := "none"
	if info.Proxy != nil {
		proxy = info.Proxy.String()
	}
	fmt.Fprintf(w, "* mode %s, proxy %s, connection reused %v\n", info.Mode, proxy, info.Reused)
	if info.ProxyTLS != nil {
		fmt.Fprintf(w, "* TLS to proxy: %s, verified %v\n", tls.VersionName(info.ProxyTLS.Version), info.IsProxyVerified)
	}
	if resp.TLS != nil {
		fmt.Fprintf(w, "* TLS to origin: %s, verified %v\n", tls.VersionName(resp.TLS.Version), info.IsVerified)
	} else if info.Mode.String() == "forward" && resp.Request.URL.Scheme == "https" {
		fmt.Fprintln(w, "* TLS to origin: done by the proxy (UseForwardingForHTTPS); not verified by ferry")
	}
	fmt.Fprintf(w, "* timings: dns %v, connect %v, tls %v, first byte %v\n",
		t.dns.Round(time.Microsecond), t.connect.Round(time.Microsecond), t.tls.Round(time.Microsecond), t.firstByte.Round(time.Microsecond))
	fmt.Fprintf(w, "< %s %s\n", resp.Proto, resp.Status)
	for k, vs := range resp.Header {
		for _, v := range vs {
			fmt.Fprintf(w, "< %s: %s\n", k, v)
		}
	}
}

const progressMin = 4 << 20

// progress draws a one-line progress bar on a terminal.
type progress struct {
	r     io.Reader
	total int64
	done  int64
	last  time.Time
	w     io.Writer
	label string
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if time.Since(p.last) > 100*time.Millisecond || err != nil {
		p.last = time.Now()
		pct := 100 * p.done / max(p.total, 1)
		bar := strings.Repeat("#", int(pct/4)) + strings.Repeat(" ", 25-int(min(pct, 100)/4))
		fmt.Fprintf(p.w, "\r%s [%s] %3d%% %d/%d bytes", p.label, bar, pct, p.done, p.total)
		if err != nil {
			fmt.Fprintln(p.w)
		}
	}
	return n, err
}

func (p *progress) Close() error {
	if c, ok := p.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// isTerminal reports whether w is a character device (no x/term needed).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
