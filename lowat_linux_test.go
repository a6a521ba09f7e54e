package ferry_test

import (
	"net"
	"syscall"
	"time"
)

// tcpNotSentLowat is Linux's TCP_NOTSENT_LOWAT (not in package syscall).
const tcpNotSentLowat = 25

// lowWaterDialer dials with TCP_NOTSENT_LOWAT set low: a write then waits
// whenever more than a few KiB are unsent, so a peer that stopped reading
// blocks every later write, even a TLS close_notify of a few bytes (without
// it, whether those bytes find room in a "full" buffer is a matter of chance).
func lowWaterDialer() *net.Dialer {
	return &net.Dialer{
		Timeout: 10 * time.Second,
		Control: func(network, address string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotSentLowat, 4096)
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
}
