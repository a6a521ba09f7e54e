//go:build unix

package conn

import (
	"errors"
	"syscall"
)

// IsConnectionLost reports whether err says the peer went away while we were
// writing: EPIPE (it closed) or ECONNRESET (it reset, typically after closing
// with unread data). golang/go#11745: the server's answer may still be readable.
func IsConnectionLost(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}
