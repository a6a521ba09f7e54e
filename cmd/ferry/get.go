package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ferryhttp/ferry"
	"github.com/ferryhttp/ferry/proxyconfig"
)

// getOptions are the flags of `ferry get`: the shared client flags and
// those about the one response.
type getOptions struct {
	clientOptions
	Include   bool
	Location  bool
	MaxRedirs int
	Output    string
	Fail      bool
	Silent    bool
	ShowError bool
	Verbose   bool
	PAC       string
}

// defaultMaxRedirs is http.Client's own limit (curl's default is 50): -L
// follows redirects with http.Client's policy, which also drops
// Authorization and cookies on a redirect to another host.
const defaultMaxRedirs = 10

func (o *getOptions) flagSet() *flagSet {
	fs := newFlagSet("get", "URL")
	o.clientOptions.register(fs)
	fs.boolVar(&o.Include, "-i, --include", "write the status line and headers before the body")
	fs.boolVar(&o.Location, "-L, --location", "follow redirects, at most --max-redirs")
	fs.intVar(&o.MaxRedirs, "--max-redirs", "N", "redirects -L follows (default 10, as http.Client; curl's is 50)", 0, 1000)
	fs.stringVar(&o.Output, "-o, --output", "FILE", "write the body to FILE (checked before the request is sent)")
	fs.boolVar(&o.Fail, "-f, --fail", "exit 22 on an HTTP status of 400 or more, writing no body")
	fs.boolVar(&o.Silent, "-s, --silent", "no progress bar and no error messages")
	fs.boolVar(&o.ShowError, "-S, --show-error", "with -s, still print error messages")
	fs.boolVar(&o.Verbose, "-v, --verbose", "request and response heads, CONNECT, mode, proxy, TLS, timings")
	fs.stringVar(&o.PAC, "--pac", "FILE|URL", "proxy auto-config script (a file or an https URL) instead of -x and the environment; its list is tried in order (-v: the answer, which entry served)")
	return fs
}

// parseGet parses the flags of `ferry get` and returns them with the URL.
func parseGet(args []string) (*getOptions, string, error) {
	o := &getOptions{MaxRedirs: defaultMaxRedirs}
	u, err := o.flagSet().parse(args)
	return o, u, err
}

func runGet(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, rawURL, err := parseGet(args)
	if err == errHelp {
		o.flagSet().usage(stdout)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "ferry get: %v (see ferry get -h)\n", err)
		return exitUsage
	}
	g := &getter{o: o, stdout: stdout, stderr: stderr}
	return g.run(ctx, rawURL, stdin)
}

// getter runs one `ferry get`.
type getter struct {
	o              *getOptions
	stdout, stderr io.Writer
	c              *client
}

// fail prints msg unless -s (without -S) silenced it, and returns code.
func (g *getter) fail(code int, msg string) int {
	if !g.o.Silent || g.o.ShowError {
		fmt.Fprintf(g.stderr, "ferry get: %s\n", msg)
	}
	return code
}

func (g *getter) failErr(err error) int {
	return g.fail(exitCodeOf(err), err.Error())
}

func (g *getter) run(ctx context.Context, rawURL string, stdin io.Reader) int {
	c, err := newClient(&g.o.clientOptions, rawURL)
	if err != nil {
		return g.failErr(err)
	}
	g.c = c
	// The output is opened before anything is sent: a request that cannot
	// keep its answer is not worth sending (an upload would be lost).
	out, err := openOutput(g.o.Output, g.stdout)
	if err != nil {
		return g.failErr(err)
	}
	code := g.fetch(ctx, stdin, out)
	if err := out.finish(code == exitOK); err != nil && code == exitOK {
		code = g.fail(exitWrite, fmt.Sprintf("writing %s: %v", g.o.Output, err))
	}
	return code
}

func (g *getter) fetch(ctx context.Context, stdin io.Reader, out *output) int {
	c, o := g.c, g.o
	req, err := g.newRequest(ctx, stdin)
	if err != nil {
		return g.failErr(err)
	}
	tr := c.ferryTransport(nil, 0)
	defer tr.CloseIdleConnections()

	start := time.Now()
	v := &verbose{w: g.stderr, c: c, start: start, on: o.Verbose}
	v.setRequest(req)
	if o.PAC != "" {
		if err := usePAC(ctx, tr, c, o.PAC, v.printf); err != nil {
			return g.failErr(err)
		}
	}
	if c.proxy != nil {
		v.printf("* proxy %s (from %s)\n", proxyconfig.Redacted(c.proxy), c.proxyFrom)
	}
	req = v.attach(req, tr)
	if f, ok := req.Body.(*os.File); ok && g.progressOK() {
		if st, err := f.Stat(); err == nil && st.Size() > progressMin {
			req.Body = &progress{r: f, total: st.Size(), w: g.stderr, label: "upload"}
		}
	}
	hc := &http.Client{Transport: tr, CheckRedirect: func(next *http.Request, via []*http.Request) error {
		if !o.Location {
			return http.ErrUseLastResponse
		}
		if len(via) > o.MaxRedirs {
			return &exitError{exitRedirects, fmt.Errorf("more than %d redirects (--max-redirs), last to %s", o.MaxRedirs, next.URL.Redacted())}
		}
		v.printf("* redirect to %s\n", next.URL.Redacted())
		v.setRequest(next)
		return nil
	}}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return g.fail(exitInterrupted, "interrupted")
		}
		code, msg := c.peerFailure(err, req.URL)
		code, msg = listFailure(err, code, msg)
		return g.fail(code, msg)
	}
	defer resp.Body.Close()
	describeRoute(v.printf, resp)
	v.response(resp)
	if o.Fail && resp.StatusCode >= 400 {
		// As curl --fail: the error page is not the document asked for.
		return g.fail(exitHTTP, fmt.Sprintf("the origin answered %s for %s", resp.Status, resp.Request.URL.Redacted()))
	}
	if o.Include {
		var head strings.Builder
		fmt.Fprintf(&head, "%s %s\r\n", resp.Proto, resp.Status)
		resp.Header.Write(&head)
		head.WriteString("\r\n")
		if _, err := io.WriteString(out, head.String()); err != nil {
			return g.fail(exitWrite, "writing the output: "+err.Error())
		}
	}
	var body io.Reader = resp.Body
	if g.progressOK() && resp.ContentLength > progressMin {
		body = &progress{r: resp.Body, total: resp.ContentLength, w: g.stderr, label: "download"}
	}
	if _, err := io.Copy(out, body); err != nil {
		if out.err != nil {
			return g.fail(exitWrite, "writing the output: "+out.err.Error())
		}
		if ctx.Err() != nil {
			return g.fail(exitInterrupted, "interrupted")
		}
		code, msg := c.peerFailure(err, resp.Request.URL)
		return g.fail(code, "reading the body: "+msg)
	}
	v.printf("* total %v\n", time.Since(start).Round(time.Microsecond))
	return exitOK
}

func (g *getter) progressOK() bool { return !g.o.Silent && isTerminal(g.stderr) }

func (g *getter) newRequest(ctx context.Context, stdin io.Reader) (*http.Request, error) {
	c := g.c
	body, err := c.bodyReader(stdin)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, c.method(), c.target.String(), body)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	if f, ok := body.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			req.ContentLength = st.Size()
		}
	}
	req.Header = c.header.Clone()
	return req, nil
}

// output is standard output or the -o file. The file is opened (created if
// need be) before the request is sent, so an unwritable path fails first;
// it is truncated only when the body starts, and removed again if it did not
// exist and nothing came (curl leaves no empty file behind either).
type output struct {
	w       io.Writer
	f       *os.File
	path    string
	existed bool
	started bool
	err     error // the first write error
}

func openOutput(path string, stdout io.Writer) (*output, error) {
	if path == "" {
		return &output{w: stdout}, nil
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o666)
	if err != nil {
		return nil, &exitError{exitWrite, fmt.Errorf("-o: %v", err)}
	}
	return &output{w: f, f: f, path: path, existed: statErr == nil}, nil
}

func (o *output) start() error {
	if o.started {
		return nil
	}
	o.started = true
	if o.f == nil {
		return nil
	}
	if st, err := o.f.Stat(); err == nil && st.Mode().IsRegular() {
		return o.f.Truncate(0)
	}
	return nil
}

func (o *output) Write(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	if err := o.start(); err != nil {
		o.err = err
		return 0, err
	}
	n, err := o.w.Write(p)
	if err != nil {
		o.err = err
	}
	return n, err
}

// finish closes the file: emptied on success without a body, removed after
// a failure if this run created it.
func (o *output) finish(ok bool) error {
	if o.f == nil {
		return nil
	}
	var err error
	if ok {
		err = o.start()
	}
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if !ok && !o.started && !o.existed {
		os.Remove(o.path)
	}
	return err
}

// verbose writes -v's lines: "* " for what ferry did, "> " for the request
// as written (from httptrace, so it is what went on the wire), "< " for the
// response. Credentials never appear: Authorization and Proxy-Authorization
// keep their scheme only, URLs lose their password. Trace callbacks come
// from the body writer's goroutine too, hence the mutex. Without -v (on
// false) printf, attach and response do nothing: callers need not check.
type verbose struct {
	w     io.Writer
	c     *client
	start time.Time
	on    bool // -v

	mu                          sync.Mutex
	cur                         *http.Request
	inHead                      bool
	dns, connect, tls, firstBy  time.Duration
	dnsStart, connStart, tlsBeg time.Time
}

func (v *verbose) printf(format string, a ...any) {
	if !v.on {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	fmt.Fprintf(v.w, format, a...)
}

// attach has req's head (via httptrace) and tr's CONNECT exchanges written
// to -v, and returns the request to send.
func (v *verbose) attach(req *http.Request, tr *ferry.Transport) *http.Request {
	if !v.on {
		return req
	}
	tr.OnProxyConnectResponse = func(_ context.Context, p *url.URL, creq *http.Request, cres *http.Response) error {
		v.connectExchange(p, creq, cres)
		return nil
	}
	return req.WithContext(httptrace.WithClientTrace(req.Context(), v.trace()))
}

func (v *verbose) setRequest(r *http.Request) {
	v.mu.Lock()
	v.cur = r
	v.mu.Unlock()
}

// requestLineLocked is what Request.Write or WriteProxy put on the wire.
func (v *verbose) requestLineLocked() string {
	r := v.cur
	target := r.URL.RequestURI()
	if v.c.mode(r.URL) == proxyconfig.Forward {
		u := *r.URL
		u.User = nil
		target = u.String()
	}
	return fmt.Sprintf("> %s %s HTTP/1.1\n", r.Method, target)
}

func (v *verbose) headerField(k string, vs []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.inHead {
		v.inHead = true
		io.WriteString(v.w, v.requestLineLocked())
	}
	for _, val := range vs {
		fmt.Fprintf(v.w, "> %s: %s\n", k, redactCredentials(k, val))
	}
}

func (v *verbose) headersDone() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.inHead {
		io.WriteString(v.w, v.requestLineLocked())
	}
	v.inHead = false
	io.WriteString(v.w, ">\n")
}

// connectExchange shows the CONNECT exchange once the reply came (ferry writes the
// CONNECT outside the request's trace): what was sent, what came back.
func (v *verbose) connectExchange(p *url.URL, creq *http.Request, cres *http.Response) {
	v.mu.Lock()
	defer v.mu.Unlock()
	fmt.Fprintf(v.w, "* CONNECT through %s\n", proxyconfig.Redacted(p))
	fmt.Fprintf(v.w, "> CONNECT %s HTTP/1.1\n> Host: %s\n", creq.Host, creq.Host)
	writeHead(v.w, "> ", creq.Header)
	fmt.Fprintf(v.w, "< %s %s\n", cres.Proto, cres.Status)
	writeHead(v.w, "< ", cres.Header)
}

// writeHead writes header lines in sorted order, each after prefix, then
// the prefix alone (the blank line that ends a head). Credentials keep
// their scheme only.
func writeHead(w io.Writer, prefix string, h http.Header) {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, val := range h[k] {
			fmt.Fprintf(w, "%s%s: %s\n", prefix, k, redactCredentials(k, val))
		}
	}
	fmt.Fprintln(w, prefix[:1])
}

func redactCredentials(key, val string) string {
	if ck := http.CanonicalHeaderKey(key); ck == "Authorization" || ck == "Proxy-Authorization" {
		scheme, _, _ := strings.Cut(val, " ")
		return scheme + " [redacted]"
	}
	return val
}

func (v *verbose) trace() *httptrace.ClientTrace {
	lock := func(f func()) { v.mu.Lock(); f(); v.mu.Unlock() }
	return &httptrace.ClientTrace{
		DNSStart:             func(httptrace.DNSStartInfo) { lock(func() { v.dnsStart = time.Now() }) },
		DNSDone:              func(httptrace.DNSDoneInfo) { lock(func() { v.dns += time.Since(v.dnsStart) }) },
		ConnectStart:         func(string, string) { lock(func() { v.connStart = time.Now() }) },
		ConnectDone:          func(string, string, error) { lock(func() { v.connect += time.Since(v.connStart) }) },
		TLSHandshakeStart:    func() { lock(func() { v.tlsBeg = time.Now() }) },
		TLSHandshakeDone:     func(tls.ConnectionState, error) { lock(func() { v.tls += time.Since(v.tlsBeg) }) },
		GotFirstResponseByte: func() { lock(func() { v.firstBy = time.Since(v.start) }) },
		WroteHeaderField:     v.headerField,
		WroteHeaders:         v.headersDone,
	}
}

func (v *verbose) response(resp *http.Response) {
	if !v.on {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	w := v.w
	info, _ := ferry.ConnInfoOf(resp)
	proxy := "none"
	if info.Proxy != nil {
		proxy = proxyconfig.Redacted(info.Proxy)
	}
	fmt.Fprintf(w, "* mode %s, proxy %s, connection reused %v\n", info.Mode, proxy, info.Reused)
	fmt.Fprintln(w, protocolLine(info))
	if info.ProxyTLS != nil {
		fmt.Fprintf(w, "* TLS to proxy: %s, verified %v\n", tls.VersionName(info.ProxyTLS.Version), info.IsProxyVerified)
	}
	if resp.TLS != nil {
		fmt.Fprintf(w, "* TLS to origin: %s, verified %v\n", tls.VersionName(resp.TLS.Version), info.IsVerified)
	} else if info.Mode == proxyconfig.Forward && resp.Request.URL.Scheme == "https" {
		fmt.Fprintln(w, "* TLS to origin: done by the proxy (--forward-https); not verified by ferry")
	}
	r := func(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
	fmt.Fprintf(w, "* timings: dns %v, connect %v, tls %v, first byte %v\n", r(v.dns), r(v.connect), r(v.tls), r(v.firstBy))
	fmt.Fprintf(w, "< %s %s\n", resp.Proto, resp.Status)
	writeHead(w, "< ", resp.Header)
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
		bar := strings.Repeat("#", int(min(pct, 100)/4)) + strings.Repeat(" ", 25-int(min(pct, 100)/4))
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
