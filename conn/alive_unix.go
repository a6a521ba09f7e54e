//go:build unix

package conn

import (
	"crypto/tls"
	"errors"
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
	nc := c.nc
	isTLS := false
	for {
		switch v := nc.(type) {
		case *tls.Conn:
			nc, isTLS = v.NetConn(), true
			continue
		case *prefixConn:
			return true // bytes may be waiting in front; let the read decide
		}
		break
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	alive := true
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK:
		case rerr == syscall.EINTR:
			return false
		case rerr != nil, n == 0:
			alive = false
		case !isTLS:
			alive = false // unsolicited bytes on an idle HTTP/1.1 connection
		}
		return true
	})
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return true
	}
	return alive && err == nil
}
