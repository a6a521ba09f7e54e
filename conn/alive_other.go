//go:build !unix

package conn

// Alive reports whether an idle connection still looks usable. Without a
// non-blocking peek on this platform it only checks for buffered bytes; a dead
// connection is caught by the retry rules.
func (c *Conn) Alive() bool {
	return c.connected && c.br.Buffered() == 0
}

type peeker struct{}
