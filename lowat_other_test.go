//go:build !linux

package ferry_test

import (
	"net"
	"time"
)

// lowWaterDialer is a plain dialer where TCP_NOTSENT_LOWAT is not known.
func lowWaterDialer() *net.Dialer { return &net.Dialer{Timeout: 10 * time.Second} }
