//go:build unix

package conn

import (
	"crypto/tls"
	"net"
	"syscall"
)

// Alive reports whether an idle connection still looks usable: the peer has
// not closed it and, for plain HTTP, sent nothing unsolicited. It peeks at the
// socket without blocking (one recvfrom with MSG_PEEK|MSG_DONTWAIT); a
// connection it cannot look into is assumed alive (a dead one is then caught
// by the retry rules). net/http learns the same from its per-connection read
// goroutine, which ferry does without.
func (c *Conn) Alive() bool {
	if !c.connected || c.br.Buffered() > 0 {
		return false
	}
	if c.peek == nil {
		c.peek = newPeeker(c.nc)
	}
	if c.peek.raw == nil {
		return true
	}
	c.peek.alive = true
	err := c.peek.raw.Read(c.peek.fn)
	if err != nil {
		return false // closed under us
	}
	return c.peek.alive
}

// peeker holds what Alive needs, made once per connection so a check costs
// one system call and no allocation.
type peeker struct {
	raw   syscall.RawConn // nil: cannot look into this connection
	isTLS bool
	alive bool
	buf   [1]byte
	fn    func(fd uintptr) bool
}

func newPeeker(nc net.Conn) *peeker {
	p := &peeker{}
	for {
		switch v := nc.(type) {
		case *tls.Conn:
			nc, p.isTLS = v.NetConn(), true
			continue
		case *prefixConn:
			return p // bytes may be waiting in front; let the read decide
		}
		break
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return p
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return p
	}
	p.raw = raw
	p.fn = func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK:
		case rerr == syscall.EINTR:
			return false
		case rerr != nil, n == 0:
			p.alive = false
		case !p.isTLS:
			p.alive = false // unsolicited bytes on an idle HTTP/1.1 connection
		}
		return true
	}
	return p
}
