//go:build !unix

package conn

import (
	"errors"
	"syscall"
)

// IsConnectionLost reports whether err says the peer went away while we were
// writing (EPIPE or ECONNRESET, or their Windows equivalents as mapped by syscall).
func IsConnectionLost(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED)
}
