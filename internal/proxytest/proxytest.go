// Package proxytest is an in-process HTTP proxy for ferry's tests and demo:
// plain or TLS listener (an HTTPS proxy), forwarding of absolute-form http://
// and https:// requests, CONNECT tunnels, Basic proxy auth, a record of every
// request it received, and faults on demand. It only ever dials loopback.
package proxytest

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// FaultKind selects a misbehaviour.
type FaultKind int

// Faults. All but Delay apply to CONNECT requests only.
const (
	None FaultKind = iota
	// RefuseConnect answers CONNECT with Fault.Status, Header and Body, then closes.
	RefuseConnect
	// Garbage answers CONNECT with bytes that are not HTTP.
	Garbage
	// CloseMidReply writes half a status line and closes.
	CloseMidReply
	// Delay sleeps Fault.Delay before answering any request.
	Delay
	// EndlessReply streams header lines until the client goes away (64 MiB at most).
	EndlessReply
	// CloseBeforeReply closes right after reading the CONNECT request.
	CloseBeforeReply
	// ExtraBytes sends its 200 and the first bytes the target sent in one
	// write, so a client that drops bytes read past the reply is caught.
	ExtraBytes
)

// Fault is a misbehaviour of the proxy.
type Fault struct {
	Kind   FaultKind
	Status int
	Header http.Header
	Body   string
	Delay  time.Duration
}

// Options configure a Proxy.
type Options struct {
	// TLS, when set, makes the listener speak TLS: an HTTPS proxy.
	TLS *tls.Config
	// Auth "user:pass" requires Proxy-Authorization: Basic; 407 otherwise.
	Auth string
	// Digest "user:pass" requires Digest (MD5 or MD5-sess, qop=auth),
	// checked as squid checks it (see checkDigest).
	Digest string
	// DigestMaxCount is how many uses a nonce has before it goes stale
	// (squid's nonce_max_count); zero means 50.
	DigestMaxCount int
	// Handshake "user:pass" requires a connection-bound scheme of two legs,
	// HandshakeScheme: "Ferry-Handshake hello" gets a 407 with a challenge
	// token; "Ferry-Handshake <token>.<base64 user:pass>" on the same
	// connection authenticates the connection, whose later requests then
	// need no header (as NTLM and Negotiate behave). As squid does with
	// NTLM, a new "hello" on a connection whose handshake is half done is
	// refused.
	Handshake string
	// CloseOn407 closes the client connection after every 407.
	CloseOn407 bool
	// ChallengeBody, when set, is the body of every 407 (a large one tests
	// clients that must not read it all).
	ChallengeBody string
	// Several of Auth, Digest and Handshake may be set: the 407 offers each
	// (Handshake, Digest, Basic) and any one of them lets a request pass.
	// UpstreamTLS is used to forward absolute-form https:// requests.
	UpstreamTLS *tls.Config
	// Fault is the initial misbehaviour; see SetFault.
	Fault Fault
	// Addr is the address to listen on. Empty means 127.0.0.1 with a free port.
	Addr string
	// NoRecord keeps no records (Requests stays empty): for a long-running
	// proxy, such as ferry serve's, whose records would only grow.
	NoRecord bool
}

// Record is one request the proxy received.
type Record struct {
	ConnIndex int    // which client connection, in accept order from 1
	Method    string // as received
	Target    string // request-target as received: "http://h/p", "h:443", "/p"
	Proto     string
	Host      string
	Header    http.Header
	TLS       bool // the client connection to the proxy was TLS
}

// RequestLine renders the record's request line.
func (r Record) RequestLine() string { return r.Method + " " + r.Target + " " + r.Proto }

// Proxy is a running proxy.
type Proxy struct {
	opts Options
	ln   net.Listener
	url  *url.URL

	mu         sync.Mutex
	nonces     map[string]*digestNonce
	challenged int
	records    []Record
	conns      int
	fault      Fault
	open       map[net.Conn]struct{}
	closed     bool
	wg         sync.WaitGroup
}

// New starts a proxy on opts.Addr, or on 127.0.0.1 with a free port.
func New(opts Options) (*Proxy, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if opts.TLS != nil {
		scheme = "https"
		ln = tls.NewListener(ln, opts.TLS)
	}
	p := &Proxy{opts: opts, ln: ln, fault: opts.Fault, open: make(map[net.Conn]struct{}),
		url: &url.URL{Scheme: scheme, Host: ln.Addr().String()}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// URL returns the proxy's URL, without credentials.
func (p *Proxy) URL() *url.URL { u := *p.url; return &u }

// URLWithAuth returns the proxy's URL with user and password.
func (p *Proxy) URLWithAuth(user, pass string) *url.URL {
	u := p.URL()
	u.User = url.UserPassword(user, pass)
	return u
}

// Requests returns a copy of every request received, in order.
func (p *Proxy) Requests() []Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Record, len(p.records))
	copy(out, p.records)
	return out
}

// Reset forgets the records.
func (p *Proxy) Reset() {
	p.mu.Lock()
	p.records = nil
	p.mu.Unlock()
}

// Conns returns how many client connections were accepted.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns
}

// SetFault changes the misbehaviour for requests from now on.
func (p *Proxy) SetFault(f Fault) {
	p.mu.Lock()
	p.fault = f
	p.mu.Unlock()
}

// Close stops the proxy, closes every connection and waits for its goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.open {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.open[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.open, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			continue
		}
		p.mu.Lock()
		p.conns++
		idx := p.conns
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.untrack(c)
			p.handle(c, idx)
		}()
	}
}

// upstream is a kept-alive connection to an origin, per client connection.
type upstream struct {
	conn net.Conn
	br   *bufio.Reader
}

func (p *Proxy) handle(c net.Conn, idx int) {
	var cs connAuth
	br := bufio.NewReader(c)
	ups := map[string]*upstream{}
	defer func() {
		for _, u := range ups {
			p.untrack(u.conn)
		}
	}()
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		p.mu.Lock()
		if !p.opts.NoRecord {
			p.records = append(p.records, Record{ConnIndex: idx, Method: req.Method, Target: req.RequestURI, Proto: req.Proto,
				Host: req.Host, Header: req.Header.Clone(), TLS: p.opts.TLS != nil})
		}
		fault := p.fault
		p.mu.Unlock()

		if fault.Kind == Delay {
			time.Sleep(fault.Delay)
		}
		if ok, challenge := p.checkAuth(req, &cs); !ok {
			io.Copy(io.Discard, req.Body)
			p.mu.Lock()
			p.challenged++
			p.mu.Unlock()
			body := "proxy authentication required\n"
			if p.opts.ChallengeBody != "" {
				body = p.opts.ChallengeBody
			}
			if err := writeStatus(c, http.StatusProxyAuthRequired, challenge, body, p.opts.CloseOn407); err != nil {
				return
			}
			if p.opts.CloseOn407 {
				return
			}
			continue
		}
		if req.Method == http.MethodConnect {
			p.tunnel(c, br, req, fault)
			return
		}
		if !p.forward(c, br, req, ups) {
			return
		}
	}
}

func writeStatus(w io.Writer, code int, h http.Header, body string, closeConn bool) error {
	resp := &http.Response{StatusCode: code, ProtoMajor: 1, ProtoMinor: 1, Header: h, Close: closeConn,
		ContentLength: int64(len(body)), Body: io.NopCloser(strings.NewReader(body))}
	if resp.Header == nil {
		resp.Header = make(http.Header)
	}
	return resp.Write(w)
}

// IsLoopback reports whether host (a name or an IP address, without port or
// brackets) names this machine: "localhost" or a loopback IP. The proxy
// never dials anywhere else, so a test can never reach the outside; ferry
// serve listens nowhere else.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (p *Proxy) tunnel(c net.Conn, br *bufio.Reader, req *http.Request, f Fault) {
	switch f.Kind {
	case RefuseConnect:
		code := f.Status
		if code == 0 {
			code = http.StatusForbidden
		}
		writeStatus(c, code, f.Header.Clone(), f.Body, true)
		return
	case Garbage:
		io.WriteString(c, "SSH-2.0-not-http\r\n\r\n")
		return
	case CloseMidReply:
		io.WriteString(c, "HTTP/1.1 20")
		return
	case CloseBeforeReply:
		return
	case EndlessReply:
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n")
		line := "X-Filler: " + strings.Repeat("a", 1000) + "\r\n"
		for n := 0; n < 64<<20; n += len(line) {
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
		return
	}
	host, _, err := net.SplitHostPort(req.RequestURI)
	if err != nil || !IsLoopback(host) {
		writeStatus(c, http.StatusForbidden, nil, "proxytest dials loopback only\n", true)
		return
	}
	up, err := net.DialTimeout("tcp", req.RequestURI, 5*time.Second)
	if err != nil {
		writeStatus(c, http.StatusBadGateway, nil, err.Error()+"\n", true)
		return
	}
	if !p.track(up) {
		return
	}
	defer p.untrack(up)
	established := "HTTP/1.1 200 Connection established\r\n\r\n"
	if f.Kind == ExtraBytes {
		// A TLS target speaks only after the client's hello, so this needs a
		// target that talks first (a plain server greeting); the harness
		// test shows the client sees those bytes.
		up.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		buf := make([]byte, 4096)
		n, _ := up.Read(buf)
		up.SetReadDeadline(time.Time{})
		if _, err := c.Write(append([]byte(established), buf[:n]...)); err != nil {
			return
		}
	} else if _, err := io.WriteString(c, established); err != nil {
		return
	}
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		if _, err := up.Write(b); err != nil {
			return
		}
	}
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(up, c)
		if tc, ok := up.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		io.Copy(c, up)
		closeWrite(c)
		done <- struct{}{}
	}()
	<-done
	// One side finished; give the other a moment to drain, then end both.
	pending := 1
	select {
	case <-done:
		pending = 0
	case <-time.After(2 * time.Second):
	}
	c.Close()
	up.Close()
	for ; pending > 0; pending-- {
		<-done
	}
}

func closeWrite(c net.Conn) {
	switch v := c.(type) {
	case *net.TCPConn:
		v.CloseWrite()
	case *tls.Conn:
		v.CloseWrite()
	}
}

// hopByHop are the headers a proxy consumes (RFC 9110 section 7.6.1).
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// forward relays one absolute-form request and its response. The response is
// relayed as soon as it arrives, even while the request body is still coming
// (an origin's early 413 reaches the client). It reports whether the client
// connection can carry another request.
func (p *Proxy) forward(c net.Conn, br *bufio.Reader, req *http.Request, ups map[string]*upstream) bool {
	if req.URL.Scheme == "" || req.URL.Host == "" {
		io.Copy(io.Discard, req.Body)
		writeStatus(c, http.StatusBadRequest, nil, "proxytest wants an absolute-form request target\n", false)
		return true
	}
	host := req.URL.Hostname()
	if !IsLoopback(host) {
		writeStatus(c, http.StatusForbidden, nil, "proxytest dials loopback only\n", true)
		return false
	}
	port := req.URL.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[req.URL.Scheme]
	}
	key := req.URL.Scheme + "://" + net.JoinHostPort(host, port)
	dial := func() (*upstream, error) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		var up net.Conn
		var err error
		if req.URL.Scheme == "https" {
			cfg := p.opts.UpstreamTLS.Clone()
			if cfg == nil {
				cfg = &tls.Config{}
			}
			if cfg.ServerName == "" {
				cfg.ServerName = host
			}
			up, err = tls.DialWithDialer(d, "tcp", net.JoinHostPort(host, port), cfg)
		} else {
			up, err = d.Dial("tcp", net.JoinHostPort(host, port))
		}
		if err != nil {
			return nil, err
		}
		if !p.track(up) {
			return nil, net.ErrClosed
		}
		return &upstream{conn: up, br: bufio.NewReader(up)}, nil
	}

	out := req.Clone(req.Context())
	out.Body = req.Body
	out.RequestURI = ""
	for _, h := range hopByHop {
		out.Header.Del(h)
	}
	out.Close = false

	var u *upstream
	var resp *http.Response
	var sent chan error
	for attempt := 0; ; attempt++ {
		u = ups[key]
		reused := u != nil
		if u == nil {
			var err error
			if u, err = dial(); err != nil {
				io.Copy(io.Discard, req.Body)
				writeStatus(c, http.StatusBadGateway, nil, "proxytest: "+err.Error()+"\n", false)
				return true
			}
			ups[key] = u
		}
		sent = make(chan error, 1)
		// A bodiless request is written inline. Only a body needs its own
		// writer, to let the origin answer early. A goroutine per request
		// would also weigh on the benchmarks: in one process, starting it
		// wakes an idle thread whenever the client has left its P idle, and
		// that cost fell on ferry (113 µs against net/http's 81 µs per
		// forwarded GET; 59 against 82 without it).
		if req.Body == http.NoBody {
			sent <- out.Write(u.conn)
		} else {
			go func(up net.Conn) { sent <- out.Write(up) }(u.conn)
		}
		var err error
		resp, err = http.ReadResponse(u.br, out)
		if err == nil {
			break
		}
		u.conn.Close()
		<-sent
		delete(ups, key)
		p.untrack(u.conn)
		// An idle upstream the origin had closed: try a bodiless request
		// once more on a new connection, as real proxies do.
		if reused && attempt == 0 && req.Body == http.NoBody {
			continue
		}
		writeStatus(c, http.StatusBadGateway, nil, "proxytest: origin: "+err.Error()+"\n", true)
		return false
	}
	up := u.conn
	keepUp := false
	defer func() {
		if !keepUp {
			delete(ups, key)
			p.untrack(up)
		}
	}()
	defer resp.Body.Close()
	// The sender may have finished without having said so yet: wait a
	// little before taking the answer for an early one.
	var bodyDone, reported bool
	select {
	case err := <-sent:
		bodyDone, reported = err == nil, true
	case <-time.After(50 * time.Millisecond):
	}
	waitSender := func() {
		if !reported {
			<-sent
			reported = true
		}
	}
	for _, h := range hopByHop {
		resp.Header.Del(h)
	}
	if !bodyDone {
		resp.Close = true // the request body is still coming: end after this response
	}
	// Buffered, as real proxies write: one segment for a small response,
	// not one per header line.
	cw := bufio.NewWriterSize(c, 32<<10)
	err := resp.Write(cw)
	if err == nil {
		err = cw.Flush()
	}
	if err != nil {
		up.Close()
		c.SetReadDeadline(time.Now())
		waitSender()
		return false
	}
	if !bodyDone {
		closeWrite(c)
		up.Close()
		// Stop reading the rest of the client's upload, as the origin did.
		c.SetReadDeadline(time.Now())
		waitSender()
		return false
	}
	keepUp = !resp.Close && u.br.Buffered() == 0
	return !resp.Close && !req.Close
}
