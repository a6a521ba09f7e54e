package proxytest

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// SOCKS5 is an in-process SOCKS5 proxy (RFC 1928, with RFC 1929
// user/password auth when User is set) that records the targets it was
// asked to connect to. It only dials loopback.
type SOCKS5 struct {
	User, Password string

	ln      net.Listener
	mu      sync.Mutex
	targets []string
	open    map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// NewSOCKS5 starts a SOCKS5 proxy on 127.0.0.1; with a user it requires
// that user and password.
func NewSOCKS5(user, password string) (*SOCKS5, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &SOCKS5{User: user, Password: password, ln: ln, open: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// URL returns socks5h://127.0.0.1:port (the proxy resolves names).
func (s *SOCKS5) URL() *url.URL { return &url.URL{Scheme: "socks5h", Host: s.ln.Addr().String()} }

// Targets returns the host:port targets requested, as the client sent them
// (a name for socks5h, an IP address for socks5).
func (s *SOCKS5) Targets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.targets...)
}

// Close stops the proxy and its connections and waits for its goroutines.
func (s *SOCKS5) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *SOCKS5) track(c net.Conn, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.open[c] = struct{}{}
	} else {
		delete(s.open, c)
		c.Close()
	}
}

func (s *SOCKS5) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.track(c, true)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.track(c, false)
			s.handle(c)
		}()
	}
}

func (s *SOCKS5) handle(c net.Conn) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(br, hdr); err != nil || hdr[0] != 5 {
		return
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(br, methods); err != nil {
		return
	}
	want := byte(0) // no auth
	if s.User != "" {
		want = 2 // user/password
	}
	found := false
	for _, m := range methods {
		found = found || m == want
	}
	if !found {
		c.Write([]byte{5, 0xff})
		return
	}
	c.Write([]byte{5, want})
	if want == 2 {
		ver := make([]byte, 2)
		if _, err := io.ReadFull(br, ver); err != nil {
			return
		}
		user := make([]byte, ver[1])
		io.ReadFull(br, user)
		l, _ := br.ReadByte()
		pass := make([]byte, l)
		io.ReadFull(br, pass)
		if string(user) != s.User || string(pass) != s.Password {
			c.Write([]byte{1, 1})
			return
		}
		c.Write([]byte{1, 0})
	}
	req := make([]byte, 4)
	if _, err := io.ReadFull(br, req); err != nil || req[1] != 1 { // CONNECT only
		return
	}
	var host string
	switch req[3] {
	case 1:
		ip := make([]byte, 4)
		io.ReadFull(br, ip)
		host = net.IP(ip).String()
	case 4:
		ip := make([]byte, 16)
		io.ReadFull(br, ip)
		host = net.IP(ip).String()
	case 3:
		l, _ := br.ReadByte()
		name := make([]byte, l)
		io.ReadFull(br, name)
		host = string(name)
	default:
		return
	}
	pb := make([]byte, 2)
	io.ReadFull(br, pb)
	target := net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(pb))))
	s.mu.Lock()
	s.targets = append(s.targets, target)
	s.mu.Unlock()
	reply := func(code byte) { c.Write([]byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0}) }
	if !IsLoopback(host) {
		reply(2) // not allowed by ruleset
		return
	}
	up, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		reply(5) // connection refused
		return
	}
	s.track(up, true)
	defer s.track(up, false)
	reply(0)
	c.SetDeadline(time.Time{})
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, br); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, up); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}
